package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

// gcmProtector wraps with an AES-GCM key held in memory, as a token would.
type gcmProtector struct {
	aead    cipher.AEAD
	failing error // returned by Wrap and Unwrap when set
}

func newGCMProtector(t *testing.T) *gcmProtector {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	b, _ := aes.NewCipher(k)
	a, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmProtector{aead: a}
}

func (*gcmProtector) Kind() string     { return "test" }
func (*gcmProtector) Describe() string { return "test key in memory" }
func (p *gcmProtector) Wrap(pt []byte) ([]byte, error) {
	if p.failing != nil {
		return nil, p.failing
	}
	return p.aead.Seal(nil, nil, pt, []byte("aad")), nil
}
func (p *gcmProtector) Unwrap(ct []byte) ([]byte, error) {
	if p.failing != nil {
		return nil, p.failing
	}
	return p.aead.Open(nil, nil, ct, []byte("aad"))
}

// rootKeyBytes returns every root key of s, raw, to look for in files.
func rootKeyBytes(s *FileSeal) [][]byte {
	var out [][]byte
	for _, k := range s.keys {
		out = append(out, bytes.Clone(k.key))
	}
	return out
}

// assertNoRootKey fails if the file at path holds a root key of s in raw or
// base64 form, or is a plaintext keyring.
func assertNoRootKey(t *testing.T, path string, s *FileSeal) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if kind, _ := KindOf(data); kind == "file" {
		t.Fatalf("%s is a plaintext keyring:\n%s", path, data)
	}
	if _, _, err := parseKeyring(path, data); err == nil {
		t.Fatalf("%s parses as a plaintext keyring", path)
	}
	for _, k := range rootKeyBytes(s) {
		if bytes.Contains(data, k) || bytes.Contains(data, []byte(base64.StdEncoding.EncodeToString(k))) {
			t.Fatalf("%s contains a root key", path)
		}
	}
}

func TestWrappedKeyringRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	p := newGCMProtector(t)
	s, err := CreateWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	assertNoRootKey(t, path, s)
	sealed, err := s.Seal(secret.Bytes("material"), testAAD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	assertNoRootKey(t, path, s)

	again, err := OpenWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Unseal(sealed, testAAD); err != nil || string(got) != "material" {
		t.Fatalf("Unseal after reopening: %v", err)
	}
	if again.ActiveID() != 2 || len(again.KeyIDs()) != 2 {
		t.Fatalf("reopened keyring: active %d, ids %v", again.ActiveID(), again.KeyIDs())
	}
	for _, id := range s.KeyIDs() {
		a, _ := s.CheckValue(id)
		b, _ := again.CheckValue(id)
		if !bytes.Equal(a, b) {
			t.Fatalf("root key %d has another check value after reopening", id)
		}
	}

	// Opened as a plaintext keyring, it is refused with the seal it needs.
	_, err = Open(path)
	var se *SealError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "wrapped by seal test (test key in memory)") {
		t.Fatalf("Open of a wrapped keyring: %v", err)
	}
	// A failing unwrap names the wrapping key and what it answered.
	p.failing = errors.New("Decrypt: DisabledException: key is disabled")
	_, err = OpenWith(path, p)
	if err == nil || !strings.Contains(err.Error(), "test key in memory") || !strings.Contains(err.Error(), "DisabledException") {
		t.Fatalf("OpenWith a failing protector: %v", err)
	}
}

func TestPlaintextKeyringRefusedBySeal(t *testing.T) {
	_, path := openTemp(t)
	_, err := OpenWith(path, newGCMProtector(t))
	var se *SealError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "kmsd admin migrate-seal --to test") {
		t.Fatalf("OpenWith on a plaintext keyring: %v", err)
	}
}

func TestRewrapPlaintextToSeal(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	sealed, _ := s.Seal(secret.Bytes("material"), testAAD)
	// A second name for the plaintext file's inode shows what becomes of
	// its content once the wrapped file replaces it.
	oldInode := filepath.Join(filepath.Dir(path), "old-inode")
	if err := os.Link(path, oldInode); err != nil {
		t.Fatal(err)
	}
	p := newGCMProtector(t)
	if err := Rewrap(path, nil, p); err != nil {
		t.Fatal(err)
	}
	assertNoRootKey(t, path, s)
	old, _ := os.ReadFile(oldInode)
	if len(old) == 0 || len(bytes.Trim(old, "\x00")) != 0 {
		t.Fatalf("the plaintext keyring's content was not overwritten: %q", old)
	}
	w, err := OpenWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.Unseal(sealed, testAAD); err != nil || string(got) != "material" || w.ActiveID() != s.ActiveID() {
		t.Fatalf("Unseal after rewrap: %v", err)
	}
	// And back to a plaintext file.
	if err := Rewrap(path, p, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
}

func TestRewrapFailureKeepsKeyring(t *testing.T) {
	s, path := openTemp(t)
	before, _ := os.ReadFile(path)
	p := newGCMProtector(t)
	p.failing = errors.New("token removed")
	if err := Rewrap(path, nil, p); err == nil || !strings.Contains(err.Error(), "token removed") {
		t.Fatalf("Rewrap with a failing seal: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed rewrap changed the keyring")
	}
	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("a failed rewrap left files behind: %v", entries)
	}
	_ = s
}

func TestRetire(t *testing.T) {
	s, path := openTemp(t)
	sealed, _ := s.Seal(secret.Bytes("material"), testAAD)
	if err := s.Retire(1); err == nil {
		t.Fatal("the active root key was retired")
	}
	if _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := s.Retire(1); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if ids := again.KeyIDs(); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("key ids after retiring 1: %v", ids)
	}
	if _, err := again.Unseal(sealed, testAAD); !errors.Is(err, ErrUnseal) {
		t.Fatalf("a record sealed under a retired root key unsealed: %v", err)
	}
}
