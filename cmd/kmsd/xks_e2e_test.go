package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const (
	xksAKID    = "AKIAI2SFODNN7EXAMPLEXKS"
	xksSecret  = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
	xksAKID2   = "BKIAI2SFODNN7EXAMPLEXKS"
	xksSecret2 = "VU6W2byoiBrhDqNGbx703oL0syCAmhlQgwNUT123456"
)

// xksClient signs XKS requests as AWS KMS does: SigV4 for kms-xks-proxy,
// host and x-amz-date signed, Content-Type sent unsigned.
type xksClient struct {
	t            *testing.T
	base         string // https://host:port/prefix/kms/xks/v1
	akid, secret string
	http         *http.Client
}

type xksAnswer struct {
	status int
	body   map[string]any
	raw    string
}

func (a xksAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

func (c *xksClient) post(path string, body any, at time.Time) xksAnswer {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	sum := sha256.Sum256(b)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), "kms-xks-proxy", "us-east-1", at); err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := xksAnswer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (c *xksClient) expect(what string, a xksAnswer, status int, errorName string) {
	c.t.Helper()
	if a.status != status || a.str("errorName") != errorName {
		c.t.Errorf("%s: got %d %s, want %d %s", what, a.status, a.raw, status, errorName)
	}
}

func xksMetadata(op string) map[string]any {
	return map[string]any{
		"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
		"kmsKeyArn":       "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"kmsOperation":    op,
		"kmsRequestId":    "e2e-" + op + "-4112f4d6",
	}
}

func xksEncrypt(pt, aad []byte) map[string]any {
	return map[string]any{"requestMetadata": xksMetadata("GenerateDataKey"), "encryptionAlgorithm": "AES_GCM",
		"plaintext": base64.StdEncoding.EncodeToString(pt), "additionalAuthenticatedData": base64.StdEncoding.EncodeToString(aad)}
}

func xksDecrypt(enc xksAnswer, aad []byte) map[string]any {
	return map[string]any{"requestMetadata": xksMetadata("Decrypt"), "encryptionAlgorithm": "AES_GCM",
		"ciphertext": enc.str("ciphertext"), "initializationVector": enc.str("initializationVector"),
		"authenticationTag": enc.str("authenticationTag"), "ciphertextMetadata": enc.str("ciphertextMetadata"),
		"additionalAuthenticatedData": base64.StdEncoding.EncodeToString(aad)}
}

// TestXKSProxyDev runs kmsd dev as the XKS proxy: keys made through the
// KMS API serve as external keys by id and by alias name, rotation keeps
// old ciphertexts readable, refusals carry the specification's error names,
// and every call is in the audit log with its requestMetadata.
func TestXKSProxyDev(t *testing.T) {
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data, "--xks-uri-prefix", "/tenant-a/kms/xks/v1",
		"--xks-access-key-id", xksAKID, "--xks-secret-access-key", xksSecret)
	if !strings.Contains(p.stderr.String(), "--xks-secret-access-key shows the secret") {
		t.Errorf("no warning about the secret on the command line:\n%s", p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "xks:   XKS Proxy API at "+p.url+"/tenant-a/kms/xks/v1") {
		t.Errorf("the banner does not say where the XKS API is:\n%s", p.stdout)
	}
	ctx := context.Background()
	k := p.client(docAccessKey, docSecretKey)
	mk := func(in *kms.CreateKeyInput) string {
		out, err := k.CreateKey(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return *out.KeyMetadata.KeyId
	}
	id := mk(&kms.CreateKeyInput{})
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/xks-ebs"), TargetKeyId: &id}); err != nil {
		t.Fatal(err)
	}
	disabled := mk(&kms.CreateKeyInput{})
	if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &disabled}); err != nil {
		t.Fatal(err)
	}
	rsa := mk(&kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})

	x := &xksClient{t: t, base: p.url + "/tenant-a/kms/xks/v1", akid: xksAKID, secret: xksSecret}
	health := x.post("/health", map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "h1", "kmsOperation": "KmsHealthCheck"}}, time.Time{})
	if health.status != 200 || !strings.Contains(health.raw, `"healthStatus":"ACTIVE"`) {
		t.Fatalf("health: %d %s", health.status, health.raw)
	}
	md := x.post("/keys/xks-ebs/metadata", map[string]any{"requestMetadata": xksMetadata("CreateKey")}, time.Time{})
	if md.status != 200 || md.str("keySpec") != "AES_256" || md.str("keyStatus") != "ENABLED" {
		t.Fatalf("metadata by alias: %d %s", md.status, md.raw)
	}
	canary, aad := []byte("CANARY-xks-e2e-plaintext"), []byte("kms blob header")
	old := x.post("/keys/xks-ebs/encrypt", xksEncrypt(canary, aad), time.Time{})
	if old.status != 200 {
		t.Fatalf("encrypt: %d %s", old.status, old.raw)
	}
	if _, err := k.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id}); err != nil {
		t.Fatal(err)
	}
	fresh := x.post("/keys/"+id+"/encrypt", xksEncrypt(canary, aad), time.Time{})
	if fresh.status != 200 || fresh.str("ciphertextMetadata")[:12] == old.str("ciphertextMetadata")[:12] {
		t.Fatalf("encrypt after rotation did not use the new material: %s / %s", old.raw, fresh.raw)
	}
	want := base64.StdEncoding.EncodeToString(canary)
	for name, enc := range map[string]xksAnswer{"before rotation": old, "after rotation": fresh} {
		if dec := x.post("/keys/"+id+"/decrypt", xksDecrypt(enc, aad), time.Time{}); dec.status != 200 || dec.str("plaintext") != want {
			t.Errorf("decrypt %s: %d %s", name, dec.status, dec.raw)
		}
	}

	x.expect("disabled key", x.post("/keys/"+disabled+"/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 400, "InvalidStateException")
	x.expect("missing key", x.post("/keys/00000000-0000-4000-8000-000000000000/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 404, "KeyNotFoundException")
	x.expect("bad key id", x.post("/keys/bad+id/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 400, "ValidationException")
	x.expect("RSA key", x.post("/keys/"+rsa+"/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 400, "InvalidKeyUsageException")
	x.expect("clock skew", x.post("/keys/"+id+"/encrypt", xksEncrypt([]byte("x"), nil), time.Now().Add(-6*time.Minute)), 401, "AuthenticationFailedException")
	wrong := &xksClient{t: t, base: x.base, akid: xksAKID, secret: xksSecret2}
	x.expect("wrong secret", wrong.post("/keys/"+id+"/encrypt", xksEncrypt([]byte("x"), nil), time.Time{}), 401, "AuthenticationFailedException")
	// Permissive dev accepts any KMS credentials, but never for XKS.
	other := &xksClient{t: t, base: x.base, akid: docAccessKey, secret: docSecretKey}
	x.expect("KMS credentials", other.post("/health", map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "h", "kmsOperation": "KmsHealthCheck"}}, time.Time{}), 401, "AuthenticationFailedException")

	p.stop()
	events := readXKSAudit(t, filepath.Join(data, "audit", "kmsd-audit.jsonl"), string(canary), want)
	var sawEncrypt, sawDenied bool
	for _, ev := range events {
		params, _ := ev["requestParameters"].(map[string]any)
		md, _ := params["requestMetadata"].(map[string]any)
		if ev["eventName"] == "XksEncrypt" && ev["errorCode"] == nil && md["kmsRequestId"] == "e2e-GenerateDataKey-4112f4d6" &&
			md["awsPrincipalArn"] == "arn:aws:iam::123456789012:user/Alice" && strings.Contains(jsonOf(ev["resources"]), id) {
			sawEncrypt = true
		}
		if ev["eventName"] == "XksEncrypt" && ev["errorCode"] == "InvalidStateException" {
			sawDenied = true
		}
	}
	if !sawEncrypt || !sawDenied {
		t.Fatalf("audit log lacks the XKS records (encrypt %v, refusal %v): %d records", sawEncrypt, sawDenied, len(events))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", data}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("audit verify with XKS records: %v\n%s", err, out.String())
	}
}

// readXKSAudit returns the XKS records of an audit log, failing if any
// record holds one of the secrets.
func readXKSAudit(t *testing.T, path string, secrets ...string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Fatalf("audit record holds %q: %s", s, line)
			}
		}
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["eventSource"] == "kms-xks-proxy.amazonaws.com" {
			out = append(out, ev)
		}
	}
	return out
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestXKSConfigRefusesBadCredentials(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--xks-access-key-id", "short", "--xks-secret-access-key", xksSecret}, "20 to 30 characters"},
		{[]string{"--xks-access-key-id", xksAKID, "--xks-secret-access-key", "tooshort"}, "43 to 64 characters"},
		{[]string{"--xks-access-key-id", xksAKID}, "has no secret"},
		{[]string{"--xks-uri-prefix", "/a"}, "no XKS credential"},
		{[]string{"--xks-access-key-id", xksAKID, "--xks-secret-access-key", xksSecret, "--xks-uri-prefix", "/a b"}, "only letters"},
		{[]string{"--xks-access-key-id", xksAKID, "--xks-secret-access-key", xksSecret, "--xks-client-ca", "ca.pem"}, "needs TLS"},
	} {
		out, err := runBin(t, append([]string{"dev", "--ephemeral"}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) || strings.Contains(out, "tooshort") || strings.Contains(out, xksSecret) {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
	}
}
