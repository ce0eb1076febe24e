package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// hkdfSHA256 is HKDF (RFC 5869) with an empty salt written out by hand, to
// check crypto/hkdf's use against an independent implementation.
func hkdfSHA256(ikm []byte, info string, n int) []byte {
	ext := hmac.New(sha256.New, make([]byte, sha256.Size))
	ext.Write(ikm)
	prk := ext.Sum(nil)
	var out, prev []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(sha256.New, prk)
		m.Write(prev)
		m.Write([]byte(info))
		m.Write([]byte{i})
		prev = m.Sum(nil)
		out = append(out, prev...)
	}
	return out[:n]
}

func rootKeyOf(t *testing.T, path string, id uint32) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f keyringFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.Keys {
		if k.ID == id {
			return k.Key
		}
	}
	t.Fatalf("no key %d in %s", id, path)
	return nil
}

func TestCheckValueAndDeriveKey(t *testing.T) {
	s, path := openTemp(t)
	root := rootKeyOf(t, path, 1)
	cv, err := s.CheckValue(1)
	if err != nil {
		t.Fatal(err)
	}
	if want := hkdfSHA256(root, "kmsd/root-key-check/v1", CheckValueSize); !hmac.Equal(cv, want) {
		t.Fatalf("CheckValue = %x, want %x", cv, want)
	}
	k, err := s.DeriveKey(1, "store-record/v1|x")
	if err != nil {
		t.Fatal(err)
	}
	if want := hkdfSHA256(root, "kmsd/derived/v1|store-record/v1|x", 32); !hmac.Equal(k, want) {
		t.Fatal("DeriveKey differs from HKDF-SHA256 of the root key")
	}
	other, _ := s.DeriveKey(1, "store-record/v1|y")
	if k.Equal(other) || hmac.Equal(k[:CheckValueSize], cv) {
		t.Fatal("different purposes derive the same key")
	}
	if _, err := s.DeriveKey(1, ""); err == nil {
		t.Fatal("DeriveKey without a purpose succeeded")
	}
	if _, err := s.CheckValue(2); err == nil {
		t.Fatal("CheckValue of a missing root key succeeded")
	}
	if _, err := s.DeriveKey(2, "p"); err == nil {
		t.Fatal("DeriveKey of a missing root key succeeded")
	}

	// Another keyring has another check value under the same key id; a
	// rotation keeps the check value of the old key and adds one.
	b, _ := openTemp(t)
	if cvb, _ := b.CheckValue(1); hmac.Equal(cv, cvb) {
		t.Fatal("two keyrings share a check value")
	}
	id, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if ids := s.KeyIDs(); len(ids) != 2 || ids[0] != 1 || ids[1] != id {
		t.Fatalf("KeyIDs after rotate = %v", ids)
	}
	again, _ := s.CheckValue(1)
	cv2, _ := s.CheckValue(id)
	if !hmac.Equal(again, cv) || hmac.Equal(cv2, cv) {
		t.Fatal("rotation changed the old key's check value or reused it")
	}
}

func TestOpenAndCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if _, err := Open(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing keyring: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created a keyring")
	}
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := s.CheckValue(1)
	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing keyring: %v, want fs.ErrExist", err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if cv2, _ := again.CheckValue(1); !hmac.Equal(cv, cv2) {
		t.Fatal("Create replaced the existing keyring")
	}
}
