package xks

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

// TestNoSecretsInErrors: whatever goes wrong, neither the plaintext (raw or
// base64) nor the secret access key appears in an error's text.
func TestNoSecretsInErrors(t *testing.T) {
	canary := []byte("CANARY-plaintext-7f3a9c")
	b64Canary := base64.StdEncoding.EncodeToString(canary)
	f := xkstest.New(t)
	answers := []func(string) (int, string, bool){
		func(string) (int, string, bool) { return 200, `{"ciphertext":"` + b64Canary + `x"}`, true },
		func(string) (int, string, bool) { return 200, `{"plaintext":"` + b64Canary + `"}`, true },
		func(string) (int, string, bool) { return 500, `{"errorName":"InternalException"}`, true },
		func(string) (int, string, bool) { return 400, `not json ` + b64Canary, true },
	}
	c := newClient(t, proxyConfig(f))
	ct := &Ciphertext{Ciphertext: []byte("xx"), IV: make([]byte, 12), AuthenticationTag: make([]byte, 16)}
	var texts []string
	for _, a := range answers {
		f.SetAnswer(a)
		_, err := c.Encrypt(context.Background(), "key-1", cryptoMD, canary, nil)
		texts = append(texts, fmt.Sprintf("%v %+v", err, err))
		_, err = c.Decrypt(context.Background(), "key-1", cryptoMD, ct, nil)
		texts = append(texts, fmt.Sprintf("%v %+v", err, err))
	}
	tlsFail := proxyConfig(f)
	tlsFail.TLS = nil
	short := proxyConfig(f)
	short.Timeout = time.Nanosecond
	for _, cfg := range []Config{tlsFail, short} {
		c := newClient(t, cfg)
		_, err := c.Encrypt(context.Background(), "key-1", cryptoMD, canary, nil)
		texts = append(texts, fmt.Sprintf("%v %+v", err, err))
	}
	for _, s := range texts {
		for _, secret := range []string{string(canary), b64Canary, b64Canary[:16], xkstest.Secret} {
			if strings.Contains(s, secret) {
				t.Fatalf("error text %q holds %q", s, secret)
			}
		}
	}
}

// TestIV16: the spec allows a 16-byte initialization vector.
func TestIV16(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	iv, tag, ct := make([]byte, 16), make([]byte, 16), []byte("pt")
	sum := sha256.Sum256(append(append(append([]byte("aad"), iv...), ct...), tag...))
	enc := base64.StdEncoding.EncodeToString
	f.SetAnswer(func(string) (int, string, bool) {
		return 200, fmt.Sprintf(`{"ciphertext":%q,"initializationVector":%q,"authenticationTag":%q,"ciphertextDataIntegrityValue":%q}`,
			enc(ct), enc(iv), enc(tag), enc(sum[:])), true
	})
	got, err := c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("ab"), []byte("aad"))
	if err != nil || len(got.IV) != 16 || got.CiphertextMetadata != nil {
		t.Fatalf("got %+v, %v", got, err)
	}
}
