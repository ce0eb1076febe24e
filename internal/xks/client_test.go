package xks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

// proxyConfig is a client configuration for the fake proxy p.
func proxyConfig(p *xkstest.Proxy) Config {
	return Config{Endpoint: p.URL, Path: xkstest.Path, AccessKeyID: xkstest.AccessKeyID, Secret: xkstest.Secret,
		Region: xkstest.Region, TLS: p.TLS(), Timeout: 10 * time.Second}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *xks.Error", err, err)
	}
	return e
}

var cryptoMD = RequestMetadata{
	AWSPrincipalArn: "arn:aws:iam::111122223333:user/Alice",
	AWSSourceVpc:    "vpc-0123",
	KMSKeyArn:       "arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	KMSOperation:    "GenerateDataKey",
	KMSRequestID:    "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
	KMSViaService:   "ebs.eu-west-3.amazonaws.com",
}

// TestRoundTrip drives all four calls against the fake proxy, which checks
// each signature, and asserts what the proxy received.
func TestRoundTrip(t *testing.T) {
	f := xkstest.New(t)
	signedAt := time.Now().UTC().Truncate(time.Second)
	cfg := proxyConfig(f)
	cfg.Clock = func() time.Time { return signedAt }
	c := newClient(t, cfg)
	ctx := context.Background()

	h, err := c.Health(ctx, RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: "r-1",
		AWSPrincipalArn: "arn:aws:iam::111122223333:root", KMSKeyArn: "ignored"})
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if h.XksProxyFleetSize != 1 || len(h.EkmFleetDetails) != 1 || h.EkmFleetDetails[0].HealthStatus != "ACTIVE" {
		t.Fatalf("Health = %+v", h)
	}
	md, err := c.Metadata(ctx, "key-1", RequestMetadata{AWSPrincipalArn: cryptoMD.AWSPrincipalArn,
		KMSKeyArn: cryptoMD.KMSKeyArn, KMSOperation: "CreateKey", KMSRequestID: "r-2", KMSViaService: "ebs"})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if md.KeySpec != "AES_256" || !reflect.DeepEqual(md.KeyUsage, []string{"ENCRYPT", "DECRYPT"}) || md.KeyStatus != "ENABLED" {
		t.Fatalf("Metadata = %+v", md)
	}
	if p := md.CreateKeyProblem(); p != "" {
		t.Fatalf("CreateKeyProblem = %q", p)
	}
	plaintext, aad := []byte("a 32-byte data key for envelope."), []byte("kms-header||context")
	ct, err := c.Encrypt(ctx, "key-1", cryptoMD, plaintext, aad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if len(ct.Ciphertext) != len(plaintext) || len(ct.IV) != 12 || len(ct.AuthenticationTag) != 16 || string(ct.CiphertextMetadata) != "v=1" {
		t.Fatalf("Encrypt = %+v", ct)
	}
	md2 := cryptoMD
	md2.KMSOperation = "Decrypt"
	got, err := c.Decrypt(ctx, "key-1", md2, ct, aad)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatalf("Decrypt = %q, want %q", got, plaintext)
	}

	// The wrong AAD is the proxy's InvalidCiphertextException, which
	// Decrypt reports as KMSInvalidStateException.
	_, err = c.Decrypt(ctx, "key-1", md2, ct, []byte("other context"))
	e := asError(t, err)
	if e.Kind != KindProxy || e.Name != "InvalidCiphertextException" || e.Status != 400 {
		t.Fatalf("wrong AAD: %+v", e)
	}
	if name, msg := e.KMSException("Decrypt"); name != "KMSInvalidStateException" || !strings.Contains(msg, "ciphertext or encryption context is corrupted") {
		t.Fatalf("wrong AAD maps to %s %q", name, msg)
	}

	reqs := f.Requests()
	if len(reqs) != 5 {
		t.Fatalf("proxy saw %d requests, want 5", len(reqs))
	}
	wantPaths := []string{xkstest.Path + "/health", xkstest.Path + "/keys/key-1/metadata", xkstest.Path + "/keys/key-1/encrypt",
		xkstest.Path + "/keys/key-1/decrypt", xkstest.Path + "/keys/key-1/decrypt"}
	wantMD := []map[string]any{
		{"kmsOperation": "ConnectCustomKeyStore", "kmsRequestId": "r-1"},
		{"awsPrincipalArn": cryptoMD.AWSPrincipalArn, "kmsOperation": "CreateKey", "kmsRequestId": "r-2"},
		{"awsPrincipalArn": cryptoMD.AWSPrincipalArn, "awsSourceVpc": "vpc-0123", "kmsKeyArn": cryptoMD.KMSKeyArn,
			"kmsOperation": "GenerateDataKey", "kmsRequestId": cryptoMD.KMSRequestID, "kmsViaService": cryptoMD.KMSViaService},
		{"awsPrincipalArn": cryptoMD.AWSPrincipalArn, "awsSourceVpc": "vpc-0123", "kmsKeyArn": cryptoMD.KMSKeyArn,
			"kmsOperation": "Decrypt", "kmsRequestId": cryptoMD.KMSRequestID, "kmsViaService": cryptoMD.KMSViaService},
	}
	for i, r := range reqs {
		if r.Path != wantPaths[i] {
			t.Errorf("request %d path %q, want %q", i, r.Path, wantPaths[i])
		}
		if i < len(wantMD) && !reflect.DeepEqual(r.Body["requestMetadata"], wantMD[i]) {
			t.Errorf("request %d requestMetadata = %v, want %v", i, r.Body["requestMetadata"], wantMD[i])
		}
	}
	enc := reqs[2].Body
	wantEnc := map[string]any{"requestMetadata": wantMD[2], "plaintext": "YSAzMi1ieXRlIGRhdGEga2V5IGZvciBlbnZlbG9wZS4=",
		"additionalAuthenticatedData": "a21zLWhlYWRlcnx8Y29udGV4dA==", "encryptionAlgorithm": "AES_GCM",
		"ciphertextDataIntegrityValueAlgorithm": "SHA_256"}
	if !reflect.DeepEqual(enc, wantEnc) {
		t.Errorf("Encrypt body = %v, want %v", enc, wantEnc)
	}
	dec := reqs[3].Body
	for _, k := range []string{"ciphertext", "ciphertextMetadata", "initializationVector", "authenticationTag", "additionalAuthenticatedData"} {
		if _, ok := dec[k].(string); !ok {
			t.Errorf("Decrypt body lacks %s: %v", k, dec)
		}
	}
	if dec["encryptionAlgorithm"] != "AES_GCM" || len(dec) != 7 {
		t.Errorf("Decrypt body = %v", dec)
	}
}

// TestEncryptWithoutAAD leaves additionalAuthenticatedData out, as the
// spec makes it optional, and still round-trips.
func TestEncryptWithoutAAD(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	ct, err := c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Requests()[0].Body["additionalAuthenticatedData"]; ok {
		t.Fatal("empty AAD was sent")
	}
	pt, err := c.Decrypt(context.Background(), "key-1", cryptoMD, ct, nil)
	if err != nil || string(pt) != "x" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
}

// TestWrongSecret: the fake proxy recomputes the signature, so a client
// with another secret is refused, and the refusal maps as AWS documents.
func TestWrongSecret(t *testing.T) {
	f := xkstest.New(t)
	cfg := proxyConfig(f)
	cfg.Secret = strings.Repeat("A", 43)
	c := newClient(t, cfg)
	_, err := c.Health(context.Background(), RequestMetadata{KMSOperation: "CreateCustomKeyStore", KMSRequestID: "r"})
	e := asError(t, err)
	if e.Kind != KindProxy || e.Name != "AuthenticationFailedException" || e.Status != 401 {
		t.Fatalf("got %+v", e)
	}
	if name, _ := e.KMSException("CreateCustomKeyStore"); name != "XksProxyIncorrectAuthenticationCredentialException" {
		t.Fatalf("CreateCustomKeyStore maps to %s", name)
	}
	if code := e.ConnectionErrorCode(); code != "INVALID_CREDENTIALS" {
		t.Fatalf("ConnectionErrorCode = %s", code)
	}
	if strings.Contains(err.Error(), cfg.Secret) || strings.Contains(err.Error(), xkstest.Secret) {
		t.Fatal("error text holds a secret")
	}
	if len(f.Requests()) != 0 {
		t.Fatal("the proxy accepted a request signed with the wrong secret")
	}
}

// TestTimeout: a proxy that accepts the request and never answers fails
// the call once the per-call deadline passes, and the default deadline is
// AWS's 250 ms.
func TestTimeout(t *testing.T) {
	p := xkstest.New(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cfg := proxyConfig(p)
	cfg.Timeout = 0
	c := newClient(t, cfg)
	if c.timeout != DefaultTimeout || DefaultTimeout != 250*time.Millisecond {
		t.Fatalf("default timeout %v", c.timeout)
	}
	// A first call with a long deadline leaves a kept-alive connection, so
	// the 250 ms below cover only a proxy that does not answer, never a
	// handshake on a loaded machine.
	c.timeout = time.Minute
	if _, err := c.Health(context.Background(), RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "warm"}); err != nil {
		t.Fatal(err)
	}
	c.timeout = DefaultTimeout
	p.SetAnswer(func(string) (int, string, bool) { <-release; return 500, "", true })

	start := time.Now()
	_, err := c.Health(context.Background(), RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
	took := time.Since(start)
	e := asError(t, err)
	if e.Kind != KindTimeout || !e.Transport {
		t.Fatalf("got %+v", e)
	}
	if took < DefaultTimeout || took > 3*time.Second {
		t.Fatalf("took %v", took)
	}
	if code := e.ConnectionErrorCode(); code != "XKS_PROXY_TIMED_OUT" {
		t.Fatalf("ConnectionErrorCode = %s", code)
	}
	if name, _ := e.KMSException("UpdateCustomKeyStore"); name != "XksProxyUriUnreachableException" {
		t.Fatalf("UpdateCustomKeyStore maps to %s", name)
	}
}

// TestSilentListener: TCP connects but no TLS handshake ever comes; that
// is a proxy that does not answer in time, not an unreachable one.
func TestSilentListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	c := newClient(t, Config{Endpoint: "https://" + ln.Addr().String(), Path: "/kms/xks/v1",
		AccessKeyID: xkstest.AccessKeyID, Secret: xkstest.Secret, Region: xkstest.Region, Timeout: 300 * time.Millisecond})
	_, err = c.Health(context.Background(), RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
	if e := asError(t, err); e.Kind != KindTimeout || e.ConnectionErrorCode() != "XKS_PROXY_TIMED_OUT" {
		t.Fatalf("got %+v", e)
	}
}

// TestUnreachable: nothing listens on the port.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, Config{Endpoint: "https://" + addr, Path: "/kms/xks/v1",
		AccessKeyID: xkstest.AccessKeyID, Secret: xkstest.Secret, Region: xkstest.Region, Timeout: 5 * time.Second})
	_, err = c.Health(context.Background(), RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
	e := asError(t, err)
	if e.Kind != KindUnreachable || !e.Transport || e.ConnectionErrorCode() != "XKS_PROXY_NOT_REACHABLE" {
		t.Fatalf("got %+v", e)
	}
	if name, msg := e.KMSException("CreateKey"); name != "CustomKeyStoreInvalidStateException" || !strings.HasPrefix(msg, "AWS KMS cannot communicate") {
		t.Fatalf("CreateKey maps to %s %q", name, msg)
	}
}

// TestBadTLS: an untrusted certificate, a name the certificate does not
// cover, and a proxy that does not speak TLS all fail the handshake.
func TestBadTLS(t *testing.T) {
	f := xkstest.New(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	_, port, _ := net.SplitHostPort(f.Addr())
	untrusted := proxyConfig(f)
	untrusted.TLS = nil // system roots do not include the test CA
	wrongName := proxyConfig(f)
	wrongName.Endpoint = "https://localhost:" + port // the test certificate names example.com and 127.0.0.1
	notTLS := proxyConfig(f)
	notTLS.Endpoint = strings.Replace(plain.URL, "http://", "https://", 1)
	for name, cfg := range map[string]Config{"untrusted": untrusted, "wrong name": wrongName, "not TLS": notTLS} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, cfg)
			_, err := c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("secret plaintext"), nil)
			e := asError(t, err)
			if e.Kind != KindTLS || !e.Transport {
				t.Fatalf("got %+v", e)
			}
			if e.ConnectionErrorCode() != "XKS_PROXY_INVALID_TLS_CONFIGURATION" {
				t.Fatalf("ConnectionErrorCode = %s", e.ConnectionErrorCode())
			}
			if n, msg := e.KMSException("Encrypt"); n != "KMSInvalidStateException" || !strings.Contains(msg, "TLS connection") {
				t.Fatalf("Encrypt maps to %s %q", n, msg)
			}
		})
	}
	if len(f.Requests()) != 0 {
		t.Fatal("a request reached the proxy over a failed handshake")
	}
}

// TestHTTP: http:// is refused unless AllowHTTP, and works when allowed.
func TestHTTP(t *testing.T) {
	f := xkstest.New(t)
	plain := httptest.NewServer(f)
	t.Cleanup(plain.Close)
	cfg := proxyConfig(f)
	cfg.Endpoint = plain.URL
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "AllowHTTP") {
		t.Fatalf("New(http://) = %v, want refusal", err)
	}
	cfg.AllowHTTP = true
	c := newClient(t, cfg)
	if _, err := c.Health(context.Background(), RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"}); err != nil {
		t.Fatalf("Health over allowed http: %v", err)
	}
}

// TestUnhealthy: every EKM UNAVAILABLE is an unreachable proxy to AWS KMS;
// one DEGRADED EKM is still healthy.
func TestUnhealthy(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	md := RequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: "r"}
	f.SetHealth("DEGRADED")
	if _, err := c.Health(context.Background(), md); err != nil {
		t.Fatalf("DEGRADED: %v", err)
	}
	f.SetHealth("UNAVAILABLE")
	_, err := c.Health(context.Background(), md)
	e := asError(t, err)
	if e.Kind != KindUnhealthy || e.ConnectionErrorCode() != "XKS_PROXY_NOT_REACHABLE" {
		t.Fatalf("got %+v", e)
	}
	if n, msg := e.KMSException("CreateCustomKeyStore"); n != "XksProxyUriUnreachableException" || !strings.Contains(msg, "unhealthy state") {
		t.Fatalf("maps to %s %q", n, msg)
	}
}

// TestInvalidInput: the client refuses to send what the spec forbids, and
// nothing reaches the proxy.
func TestInvalidInput(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	ctx := context.Background()
	good := &Ciphertext{Ciphertext: []byte("x"), IV: make([]byte, 12), AuthenticationTag: make([]byte, 16)}
	noArn := cryptoMD
	noArn.KMSKeyArn = ""
	noPrincipal := cryptoMD
	noPrincipal.AWSPrincipalArn = ""
	calls := map[string]func() error{
		"key id traversal": func() error { _, err := c.Metadata(ctx, "../health", cryptoMD); return err },
		"key id slash":     func() error { _, err := c.Encrypt(ctx, "a/b", cryptoMD, []byte("x"), nil); return err },
		"key id too long":  func() error { _, err := c.Metadata(ctx, strings.Repeat("k", 129), cryptoMD); return err },
		"key id empty":     func() error { _, err := c.Decrypt(ctx, "", cryptoMD, good, nil); return err },
		"no kmsKeyArn":     func() error { _, err := c.Encrypt(ctx, "key-1", noArn, []byte("x"), nil); return err },
		"no principal":     func() error { _, err := c.Metadata(ctx, "key-1", noPrincipal); return err },
		"no request id": func() error {
			_, err := c.Health(ctx, RequestMetadata{KMSOperation: "KmsHealthCheck"})
			return err
		},
		"empty plaintext": func() error { _, err := c.Encrypt(ctx, "key-1", cryptoMD, nil, nil); return err },
		"iv 13": func() error {
			_, err := c.Decrypt(ctx, "key-1", cryptoMD, &Ciphertext{Ciphertext: []byte("x"), IV: make([]byte, 13), AuthenticationTag: make([]byte, 16)}, nil)
			return err
		},
		"tag 12": func() error {
			_, err := c.Decrypt(ctx, "key-1", cryptoMD, &Ciphertext{Ciphertext: []byte("x"), IV: make([]byte, 12), AuthenticationTag: make([]byte, 12)}, nil)
			return err
		},
		"metadata 21": func() error {
			_, err := c.Decrypt(ctx, "key-1", cryptoMD, &Ciphertext{Ciphertext: []byte("x"), IV: make([]byte, 16),
				AuthenticationTag: make([]byte, 16), CiphertextMetadata: make([]byte, 21)}, nil)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Fatalf("%d requests reached the proxy", n)
	}
}

// TestCallerCancel: the caller giving up is not blamed on the proxy.
func TestCallerCancel(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Health(ctx, RequestMetadata{KMSOperation: "KmsHealthCheck", KMSRequestID: "r"})
	var e *Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	base := Config{Endpoint: "https://xks.example.com", Path: "/kms/xks/v1", AccessKeyID: xkstest.AccessKeyID, Secret: xkstest.Secret, Region: xkstest.Region}
	if _, err := New(base); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	bad := map[string]func(*Config){
		"ftp scheme":     func(c *Config) { c.Endpoint = "ftp://xks.example.com" },
		"no scheme":      func(c *Config) { c.Endpoint = "xks.example.com" },
		"endpoint path":  func(c *Config) { c.Endpoint = "https://xks.example.com/kms" },
		"endpoint query": func(c *Config) { c.Endpoint = "https://xks.example.com?a=b" },
		"userinfo":       func(c *Config) { c.Endpoint = "https://u:p@xks.example.com" },
		"bad port":       func(c *Config) { c.Endpoint = "https://xks.example.com:99999" },
		"path no suffix": func(c *Config) { c.Path = "/example/prefix" },
		"path dot":       func(c *Config) { c.Path = "/a.b/kms/xks/v1" },
		"path too long":  func(c *Config) { c.Path = "/" + strings.Repeat("p", 120) + "/kms/xks/v1" },
		"path trailing":  func(c *Config) { c.Path = "/kms/xks/v1/" },
		"no access key":  func(c *Config) { c.AccessKeyID = "" },
		"no secret":      func(c *Config) { c.Secret = "" },
		"no region":      func(c *Config) { c.Region = "" },
	}
	for name, mutate := range bad {
		cfg := base
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, s := range []string{base.String(), fmtV(base)} {
		if strings.Contains(s, xkstest.Secret) {
			t.Fatalf("Config prints its secret: %s", s)
		}
	}
}

func TestCreateKeyProblem(t *testing.T) {
	cases := []struct {
		md   KeyMetadata
		want string
	}{
		{KeyMetadata{"AES_256", []string{"DECRYPT", "ENCRYPT", "WRAP"}, "ENABLED"}, ""},
		{KeyMetadata{"RSA_2048", []string{"ENCRYPT", "DECRYPT"}, "ENABLED"}, "The key spec of the external key must be AES_256. The key spec of specified external key is RSA_2048."},
		{KeyMetadata{"AES_256", []string{"ENCRYPT"}, "ENABLED"}, "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of specified external key is ENCRYPT."},
		{KeyMetadata{"AES_256", []string{"ENCRYPT", "DECRYPT"}, "DISABLED"}, "The status of the external key must be ENABLED. The status of specified external key is DISABLED."},
	}
	for _, c := range cases {
		if got := c.md.CreateKeyProblem(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.md, got, c.want)
		}
	}
}

func fmtV(c Config) string { return fmt.Sprintf("%v %+v %#v %s", c, c, c, c) }
