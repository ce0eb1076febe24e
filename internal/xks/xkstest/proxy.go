// Package xkstest is a fake XKS proxy for tests: real AES-GCM external
// keys, SigV4 verification with the AWS SDK signer, requests recorded, and
// answers that a test can override to play a faulty proxy.
package xkstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	json "github.com/go-json-experiment/json"
)

// The credential, Region and URI path the fake proxy accepts.
const (
	AccessKeyID = "AKIA4GBY3I6JCE5M2HPM"
	Secret      = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
	Region      = "eu-west-3"
	Path        = "/example/prefix/kms/xks/v1"
	KeyID       = "key-1" // the external key every Proxy starts with
)

// Request is one request as the fake proxy received it, signature verified.
type Request struct {
	Path string
	Body map[string]any
}

// Answer overrides the proxy's answer to op (GetHealthStatus,
// GetKeyMetadata, Encrypt, Decrypt) when ok.
type Answer func(op string) (status int, body string, ok bool)

// Proxy is a fake XKS proxy on a TLS listener. It verifies every request's
// SigV4 signature by signing the same request again with the SDK signer and
// the shared secret, and answers per the spec unless an Answer overrides it.
type Proxy struct {
	// URL is the proxy's XksProxyUriEndpoint, https://127.0.0.1:port.
	URL string
	srv *httptest.Server

	mu     sync.Mutex
	keys   map[string][]byte
	health string // healthStatus of the single external key manager
	seen   []Request
	answer Answer
}

// New starts a proxy that tb stops.
func New(tb testing.TB) *Proxy {
	tb.Helper()
	p := &Proxy{keys: map[string][]byte{}, health: "ACTIVE"}
	p.AddKey(KeyID)
	p.srv = httptest.NewTLSServer(p)
	p.URL = p.srv.URL
	tb.Cleanup(p.srv.Close)
	return p
}

// TLS is a client configuration that trusts the proxy's certificate, which
// names 127.0.0.1 and example.com.
func (p *Proxy) TLS() *tls.Config {
	return &tls.Config{RootCAs: p.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
}

// Addr is the listener's host:port.
func (p *Proxy) Addr() string { return p.srv.Listener.Addr().String() }

// AddKey adds an enabled AES-256 external key.
func (p *Proxy) AddKey(id string) {
	k := make([]byte, 32)
	rand.Read(k)
	p.mu.Lock()
	p.keys[id] = k
	p.mu.Unlock()
}

// Requests returns what the proxy accepted so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.seen...)
}

// SetHealth sets the external key manager's healthStatus.
func (p *Proxy) SetHealth(s string) {
	p.mu.Lock()
	p.health = s
	p.mu.Unlock()
}

// SetAnswer overrides answers; nil restores the normal ones.
func (p *Proxy) SetAnswer(a Answer) {
	p.mu.Lock()
	p.answer = a
	p.mu.Unlock()
}

func writeErr(w http.ResponseWriter, status int, name string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errorName":%q}`, name)
}

// ServeHTTP serves the XKS Proxy API under Path.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		writeErr(w, 400, "ValidationException")
		return
	}
	if !p.verify(r, body) {
		writeErr(w, 401, "AuthenticationFailedException")
		return
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, 400, "ValidationException")
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, Request{Path: r.URL.Path, Body: req})
	answer, health := p.answer, p.health
	p.mu.Unlock()

	rest, ok := strings.CutPrefix(r.URL.Path, Path+"/")
	if !ok {
		writeErr(w, 404, "InvalidUriPathException")
		return
	}
	op := "GetHealthStatus"
	var key []byte
	if rest != "health" {
		parts := strings.Split(rest, "/")
		if len(parts) != 3 || parts[0] != "keys" {
			writeErr(w, 404, "InvalidUriPathException")
			return
		}
		op = map[string]string{"metadata": "GetKeyMetadata", "encrypt": "Encrypt", "decrypt": "Decrypt"}[parts[2]]
		p.mu.Lock()
		key = p.keys[parts[1]]
		p.mu.Unlock()
		if key == nil {
			writeErr(w, 404, "KeyNotFoundException")
			return
		}
	}
	if answer != nil {
		if status, out, ok := answer(op); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, out)
			return
		}
	}
	var out any
	switch op {
	case "GetHealthStatus":
		out = map[string]any{"xksProxyFleetSize": 1, "xksProxyVendor": "kmsd tests", "xksProxyModel": "fake 1.0",
			"ekmVendor": "kmsd tests", "ekmFleetDetails": []any{map[string]any{"id": "ekm-1", "model": "soft", "healthStatus": health}}}
	case "GetKeyMetadata":
		out = map[string]any{"keySpec": "AES_256", "keyUsage": []string{"ENCRYPT", "DECRYPT"}, "keyStatus": "ENABLED"}
	case "Encrypt":
		out, err = encryptGCM(key, req)
	case "Decrypt":
		out, err = decryptGCM(key, req)
	default:
		writeErr(w, 404, "InvalidUriPathException")
		return
	}
	if err != nil {
		writeErr(w, 400, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.MarshalWrite(w, out)
}

// verify checks the Authorization header the way a proxy does: the scope is
// ours, the signed headers are host;x-amz-date as AWS signs them, and the
// SDK signer over the same method, host, path, time and body hash yields
// the same header.
func (p *Proxy) verify(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	scope := fmt.Sprintf("Credential=%s/%s/%s/kms-xks-proxy/aws4_request, SignedHeaders=host;x-amz-date, ",
		AccessKeyID, when.Format("20060102"), Region)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 "+scope) {
		return false
	}
	again, _ := http.NewRequest(http.MethodPost, "https://"+r.Host+r.URL.EscapedPath(), nil)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: Secret}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, again, hex.EncodeToString(sum[:]), "kms-xks-proxy", Region, when); err != nil {
		return false
	}
	return hmac.Equal([]byte(again.Header.Get("Authorization")), []byte(auth))
}

func b64(req map[string]any, name string) []byte {
	s, _ := req[name].(string)
	b, _ := base64.StdEncoding.DecodeString(s)
	return b
}

// gcmAAD is the spec's AAD for the key manager: 2-byte length || aad ||
// 1-byte length || ciphertextMetadata.
func gcmAAD(aad, meta []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(aad)))
	out = append(out, aad...)
	out = append(out, byte(len(meta)))
	return append(out, meta...)
}

func encryptGCM(key []byte, req map[string]any) (map[string]any, error) {
	if req["encryptionAlgorithm"] != "AES_GCM" {
		return nil, fmt.Errorf("ValidationException")
	}
	// The AEAD draws its own nonce: FIPS 140-only mode allows no other GCM.
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCMWithRandomNonce(block)
	meta := []byte("v=1")
	aad := b64(req, "additionalAuthenticatedData")
	sealed := gcm.Seal(nil, nil, b64(req, "plaintext"), gcmAAD(aad, meta)) // iv | ciphertext | tag
	iv, ct, tag := sealed[:12], sealed[12:len(sealed)-16], sealed[len(sealed)-16:]
	out := map[string]any{"ciphertext": ct, "ciphertextMetadata": meta, "initializationVector": iv, "authenticationTag": tag}
	if req["ciphertextDataIntegrityValueAlgorithm"] == "SHA_256" {
		h := sha256.New()
		for _, p := range [][]byte{aad, meta, iv, ct, tag} {
			h.Write(p)
		}
		out["ciphertextDataIntegrityValue"] = h.Sum(nil)
	}
	return out, nil
}

func decryptGCM(key []byte, req map[string]any) (map[string]any, error) {
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCMWithRandomNonce(block)
	iv := b64(req, "initializationVector")
	if len(iv) != 12 {
		return nil, fmt.Errorf("InvalidCiphertextException")
	}
	sealed := append(append(iv, b64(req, "ciphertext")...), b64(req, "authenticationTag")...)
	pt, err := gcm.Open(nil, nil, sealed, gcmAAD(b64(req, "additionalAuthenticatedData"), b64(req, "ciphertextMetadata")))
	if err != nil {
		return nil, fmt.Errorf("InvalidCiphertextException")
	}
	return map[string]any{"plaintext": pt}, nil
}
