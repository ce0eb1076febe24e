package seal

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

func TestNewMemorySealsWithoutFiles(t *testing.T) {
	t.Chdir(t.TempDir())
	a, b := NewMemory(), NewMemory()
	blob, err := a.Seal(secret.Bytes("material"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := a.Unseal(blob, []byte("aad"))
	if err != nil || !bytes.Equal(pt, []byte("material")) {
		t.Fatalf("Unseal = %q, %v", pt, err)
	}
	if _, err := b.Unseal(blob, []byte("aad")); !errors.Is(err, ErrUnseal) {
		t.Fatalf("another in-memory keyring unsealed the blob: %v", err)
	}
	ca, _ := a.CheckValue(a.ActiveID())
	cb, _ := b.CheckValue(b.ActiveID())
	if bytes.Equal(ca, cb) {
		t.Fatal("two in-memory keyrings have the same root key")
	}
	// Rotate would write the keyring, root keys included, beside a path
	// an in-memory keyring does not have.
	if _, err := a.Rotate(); err == nil || err.Error() != "seal: an in-memory root keyring cannot be rotated" {
		t.Fatalf("Rotate of an in-memory keyring = %v", err)
	}
	if got := a.KeyIDs(); len(got) != 1 {
		t.Fatalf("after a failed Rotate the keyring has keys %v", got)
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Fatalf("an in-memory keyring wrote %d files", len(ents))
	}
}
