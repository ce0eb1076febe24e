package seal

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
	"github.com/kmsd/kmsd/internal/secret"
)

// TestPKCS11Seal wraps a keyring in a SoftHSM2 token: it reopens through
// the token, refuses without the token's key, and the file holds no key.
func TestPKCS11Seal(t *testing.T) {
	module, label, pin := softhsmtest.NewToken(t, "seal")
	tok, err := hsm.Open(module, label, pin)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	p := NewPKCS11(tok, module, label, "kmsd-root-keyring")
	path := filepath.Join(t.TempDir(), "root.key")
	s, err := CreateWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	assertNoRootKey(t, path, s)
	sealed, _ := s.Seal(secret.Bytes("material"), testAAD)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Unseal(sealed, testAAD); err != nil || string(got) != "material" {
		t.Fatalf("Unseal through the reopened keyring: %v", err)
	}
	// Another label: the token has no such key, and Unwrap makes none.
	_, err = OpenWith(path, NewPKCS11(tok, module, label, "another-key"))
	if !errors.Is(err, hsm.ErrKeyNotFound) || !strings.Contains(err.Error(), `key "another-key" in PKCS#11 token "`+label+`"`) {
		t.Fatalf("open with a key label the token lacks: %v", err)
	}
	if has, _ := tok.HasKey("another-key"); has {
		t.Fatal("opening a keyring generated a wrapping key")
	}
	if strings.Contains(err.Error(), pin) {
		t.Fatal("the error shows the PIN")
	}
}
