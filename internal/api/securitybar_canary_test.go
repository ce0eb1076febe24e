package api_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// exchange is one answer the client received.
type exchange struct {
	target string
	status int
	body   []byte
}

// recordingClient keeps every response body the SDK receives.
type recordingClient struct {
	mu   sync.Mutex
	seen []exchange
}

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	c.seen = append(c.seen, exchange{strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService."), resp.StatusCode, body})
	c.mu.Unlock()
	return resp, nil
}

// TestBarSecretCanaries is check 22 on the embedded store: recognisable
// key material (imported symmetric and HMAC keys) and a recognisable
// plaintext go through the API, successes and errors alike; then the
// server's log at debug level, the audit log, every response body, the
// store file and a dump of all goroutines are searched for them, raw, in
// hex and in base64. The key material appears nowhere; the plaintext only
// in the answers of successful Decrypts. (kmsd has no /metrics and no
// PostgreSQL store yet.)
func TestBarSecretCanaries(t *testing.T) {
	logs := &lockedBuffer{}
	s := startBarServer(t, barOptions{allowAll: true, logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	rec := &recordingClient{}
	akid := akidOf(t, rootA)
	c := kms.New(kms.Options{Region: testRegion, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1, HTTPClient: rec,
		Credentials: credentials.NewStaticCredentialsProvider(akid, grantSecretOf(akid), "")})

	keyCanary := []byte("KMSD-CANARY-KEY-MATERIAL-0123456")
	macCanary := []byte("KMSD-CANARY-HMAC-MATERIAL-987654")
	ptCanary := []byte("KMSD-CANARY-PLAINTEXT-attack-at-dawn")
	sym, err := c.CreateKey(bg, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	barNoErr(t, err)
	hmacKey, err := c.CreateKey(bg, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	barNoErr(t, err)
	id, hid := aws.ToString(sym.KeyMetadata.KeyId), aws.ToString(hmacKey.KeyMetadata.KeyId)
	barNoErr(t, importFor(t, c, id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, keyCanary))
	barNoErr(t, importFor(t, c, hid, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha256, macCanary))
	// Other material for an imported key is refused, the canary in it too.
	if err := importFor(t, c, id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, bytes.ToLower(keyCanary)); err == nil {
		t.Fatal("other material imported into the same key")
	}

	ec := map[string]string{"purpose": "canary"}
	enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: &id, Plaintext: ptCanary, EncryptionContext: ec})
	barNoErr(t, err)
	dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, ptCanary) {
		t.Fatalf("Decrypt: %v", err)
	}
	_, err = c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	barNoErr(t, err)
	_, err = c.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: &id})
	barNoErr(t, err)
	mac, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: &hid, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	barNoErr(t, err)
	// Failures carrying the plaintext or touching the material.
	failures := []func() error{
		func() error {
			_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
			return err
		},
		func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: &id, Plaintext: bytes.Repeat(ptCanary, 4096/len(ptCanary)+1)})
			return err
		},
		func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: ptCanary})
			return err
		},
		func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: &hid, Plaintext: ptCanary})
			return err
		},
		func() error {
			_, err := c.VerifyMac(bg, &kms.VerifyMacInput{KeyId: &hid, Message: []byte("n"), Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
			return err
		},
		func() error {
			bad := bytes.Clone(enc.CiphertextBlob)
			bad[len(bad)-1] ^= 1
			_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
			return err
		},
	}
	_, err = c.DisableKey(bg, &kms.DisableKeyInput{KeyId: &id})
	barNoErr(t, err)
	failures = append(failures, func() error {
		_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: &id, Plaintext: ptCanary})
		return err
	})
	for i, f := range failures {
		if f() == nil {
			t.Fatalf("failure %d succeeded", i)
		}
	}

	dump := make([]byte, 1<<20)
	dump = dump[:runtime.Stack(dump, true)]
	s.Stop()
	auditLog, err := os.ReadFile(s.AuditPath)
	barNoErr(t, err)
	storeFile, err := os.ReadFile(filepath.Join(s.Dir, "kmsd.db"))
	barNoErr(t, err)
	places := map[string][]byte{"log": logs.Bytes(), "audit log": auditLog, "store file": storeFile, "goroutine dump": dump}
	if len(auditLog) == 0 || len(storeFile) == 0 {
		t.Fatal("nothing was audited or stored: the search would find nothing either")
	}
	var errorBodies, allBodies []byte
	for _, x := range rec.seen {
		allBodies = append(allBodies, x.body...)
		if x.status >= 300 || x.target != "Decrypt" {
			errorBodies = append(errorBodies, x.body...)
		}
	}
	// The search itself works: the plaintext is in Decrypt's answer.
	if !bytes.Contains(allBodies, []byte(encodings(ptCanary)["base64"])) {
		t.Fatal("the plaintext is not found even in Decrypt's answer: the search is blind")
	}
	for _, sec := range []struct {
		name   string
		canary []byte
		where  map[string][]byte
	}{
		{"key material", keyCanary, with(places, "responses", allBodies)},
		{"HMAC key material", macCanary, with(places, "responses", allBodies)},
		{"plaintext", ptCanary, with(places, "error and non-Decrypt responses", errorBodies)},
	} {
		for place, data := range sec.where {
			for form, enc := range encodings(sec.canary) {
				if bytes.Contains(data, []byte(enc)) {
					t.Errorf("the %s is in the %s (%s)", sec.name, place, form)
				}
			}
		}
	}
}

// with returns places and one more.
func with(places map[string][]byte, name string, data []byte) map[string][]byte {
	out := map[string][]byte{name: data}
	for k, v := range places {
		out[k] = v
	}
	return out
}
