package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// testCA issues certificates for a test.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{t: t, cert: cert, key: key, pool: pool}
}

// issue returns a leaf certificate for cn (a server one when server is set).
func (ca *testCA) issue(cn string, server bool) tls.Certificate {
	ca.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestXKSProxyServeWithClientCertificates runs kmsd serve from a config
// file with two XKS credentials (a rotation) and client certificates
// required for XKS: KMS API clients without a certificate still work on
// the same TLS listener, an XKS caller needs a certificate from the
// configured CA with the configured CN.
func TestXKSProxyServeWithClientCertificates(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "Amazon test root"), newTestCA(t, "other CA")
	srv := serverCA.issue("127.0.0.1", true)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srv.Certificate[0])
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	writePEM(t, filepath.Join(dir, "server-key.pem"), "PRIVATE KEY", keyDER)
	writePEM(t, filepath.Join(dir, "client-ca.pem"), "CERTIFICATE", clientCA.cert.Raw)
	if err := os.WriteFile(filepath.Join(dir, "xks-secret-2"), []byte(xksSecret2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := `listen: ` + addr + `
data: ` + filepath.Join(dir, "data") + `
tls_cert: ` + filepath.Join(dir, "server.pem") + `
tls_key: ` + filepath.Join(dir, "server-key.pem") + `
root_access_key: AKIAIOSFODNN7EXAMPLE
root_secret_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
xks:
  uri_prefix: /ks1
  credentials:
    - access_key_id: ` + xksAKID + `
      secret_access_key: ` + xksSecret + `
    - access_key_id: ` + xksAKID2 + `
      secret_access_key_file: ` + filepath.Join(dir, "xks-secret-2") + `
  client_ca: ` + filepath.Join(dir, "client-ca.pem") + `
  client_cn: cks.kms.us-east-1.amazonaws.com
`
	cfgPath := filepath.Join(dir, "kmsd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	printed, err := runBin(t, "serve", "--config", cfgPath, "--print-config")
	if err != nil || strings.Contains(printed, xksSecret) || !strings.Contains(printed, "client_cn: cks.kms.us-east-1.amazonaws.com") {
		t.Fatalf("--print-config: %v\n%s", err, printed)
	}

	cmd := exec.Command(kmsdBin, "serve", "--config", cfgPath)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// The client sends its certificate whatever CAs the server names, as
	// a hostile one would.
	client := func(certs ...tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: serverCA.pool}
		if len(certs) > 0 {
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	plain := client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := plain.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kmsd serve did not start: %v\n%s", err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The KMS API on the same listener needs no client certificate.
	k := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://" + addr), HTTPClient: sdkhttp.Wrap(plain), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "")})
	key, err := k.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("KMS API without a client certificate: %v", err)
	}
	id := *key.KeyMetadata.KeyId

	base := "https://" + addr + "/ks1/kms/xks/v1"
	good := clientCA.issue("cks.kms.us-east-1.amazonaws.com", false)
	x := &xksClient{t: t, base: base, akid: xksAKID, secret: xksSecret, http: client(good)}
	enc := x.post("/keys/"+id+"/encrypt", xksEncrypt([]byte("tls"), nil), time.Time{})
	if enc.status != 200 {
		t.Fatalf("encrypt with a good client certificate: %d %s", enc.status, enc.raw)
	}
	// The second credential of the rotation decrypts it.
	x2 := &xksClient{t: t, base: base, akid: xksAKID2, secret: xksSecret2, http: client(good)}
	if dec := x2.post("/keys/"+id+"/decrypt", xksDecrypt(enc, nil), time.Time{}); dec.status != 200 {
		t.Fatalf("decrypt with the second credential: %d %s", dec.status, dec.raw)
	}
	noCert := &xksClient{t: t, base: base, akid: xksAKID, secret: xksSecret, http: plain}
	noCert.expect("no client certificate", noCert.post("/keys/"+id+"/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 401, "AuthenticationFailedException")

	// A certificate with another CN, or from another CA, ends the handshake.
	for what, cert := range map[string]tls.Certificate{
		"other CN": clientCA.issue("someone.example.com", false),
		"other CA": otherCA.issue("cks.kms.us-east-1.amazonaws.com", false),
	} {
		if _, err := client(cert).Get(base + "/health"); err == nil {
			t.Errorf("%s: the TLS handshake succeeded", what)
		}
	}
}
