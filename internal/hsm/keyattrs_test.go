//go:build cgo

package hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/kmsd/kmsd/internal/hsm"
)

// TestPlantedKeyIsRefused: a key that someone else put in the token under
// the wrapping key's label, but that could be read out or is not AES-256,
// is refused by HasKey, Encrypt and Decrypt, naming the label and the
// attribute, instead of being used to wrap secrets.
func TestPlantedKeyIsRefused(t *testing.T) {
	t.Parallel()
	tok, module, tokenLabel, pin := openToken(t, "planted")
	for _, c := range []struct {
		label, attr string
		override    []*pkcs11.Attribute
	}{
		{"extractable", "CKA_EXTRACTABLE", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)}},
		{"not-sensitive", "CKA_SENSITIVE", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false)}},
		{"aes-128", "CKA_VALUE_LEN", []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)}},
	} {
		t.Run(c.label, func(t *testing.T) {
			if err := tok.PlantKey(c.label, c.override...); err != nil {
				t.Fatalf("plant the key: %v", err)
			}
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, hsm.ErrKeyUnfit) || !strings.Contains(err.Error(), `"`+c.label+`"`) || !strings.Contains(err.Error(), c.attr) {
					t.Fatalf("%s under the planted key = %v, want ErrKeyUnfit naming %q and %s", op, err, c.label, c.attr)
				}
			}
			_, err := tok.HasKey(c.label)
			check("HasKey", err)
			_, err = tok.Encrypt(c.label, []byte("root keyring"), nil)
			check("Encrypt", err)
			_, err = tok.Decrypt(c.label, make([]byte, 64), nil)
			check("Decrypt", err)
		})
	}

	// A key kmsd made, then replaced behind the Token's back by a planted
	// one of the same label, is refused too (the cached handle is checked).
	mustGenerate(t, tok, "k")
	if _, err := tok.Encrypt("k", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	other := mustOpen(t, module, tokenLabel, pin)
	if err := other.DeleteKey("k"); err != nil {
		t.Fatal(err)
	}
	if err := other.PlantKey("k", pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Encrypt("k", []byte("x"), nil); !errors.Is(err, hsm.ErrKeyUnfit) || !strings.Contains(err.Error(), "CKA_EXTRACTABLE") {
		t.Fatalf("Encrypt under the replaced key = %v, want ErrKeyUnfit naming CKA_EXTRACTABLE", err)
	}
}
