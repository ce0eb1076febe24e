package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

func openTemp(t *testing.T) (*FileSeal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kmsd", "root.json")
	s, err := OpenFile(path)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	return s, path
}

var testAAD = []byte("kmsd/material/v1|123456789012/us-east-1|1234abcd-12ab-34cd-56ef-1234567890ab|" + strings.Repeat("ab", 32))

func TestRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	for _, n := range []int{0, 1, 32, 4096} {
		pt := secret.Bytes(bytes.Repeat([]byte{0xA5}, n))
		sealed, err := s.Seal(pt, testAAD)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(sealed), headerSize+nonceSize+n+tagSize; got != want {
			t.Errorf("len(sealed) = %d, want %d", got, want)
		}
		got, err := s.Unseal(sealed, testAAD)
		if err != nil {
			t.Fatalf("Unseal: %v", err)
		}
		if !got.Equal(pt) {
			t.Fatalf("round trip of %d bytes changed the plaintext", n)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	s, _ := openTemp(t)
	pt := secret.Bytes("same material, sealed twice.....")
	a, _ := s.Seal(pt, testAAD)
	b, _ := s.Seal(pt, testAAD)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if bytes.Contains(a, pt) {
		t.Fatal("sealed record contains the plaintext")
	}
}

func TestUnsealRejects(t *testing.T) {
	s, _ := openTemp(t)
	other, _ := openTemp(t)
	pt := secret.Bytes(bytes.Repeat([]byte{7}, 32))
	sealed, err := s.Seal(pt, testAAD)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(sealed)) }

	cases := []struct {
		name   string
		seal   *FileSeal
		sealed []byte
		aad    []byte
	}{
		{"wrong aad", s, sealed, []byte("kmsd/material/v1|other")},
		{"empty aad", s, sealed, nil},
		{"aad with extra byte", s, sealed, append(bytes.Clone(testAAD), 0)},
		{"other root file", other, sealed, testAAD},
		{"empty", s, nil, testAAD},
		{"header only", s, sealed[:headerSize], testAAD},
		{"bad version", s, mutate(func(b []byte) []byte { b[0] = 2; return b }), testAAD},
		{"unknown root key", s, mutate(func(b []byte) []byte { b[4] = 9; return b }), testAAD},
		{"appended byte", s, append(bytes.Clone(sealed), 0), testAAD},
	}
	for _, c := range cases {
		if pt, err := c.seal.Unseal(c.sealed, c.aad); !errors.Is(err, ErrUnseal) || pt != nil {
			t.Errorf("%s: Unseal = %v, %v; want nil, ErrUnseal", c.name, pt, err)
		}
	}
	for i := range len(sealed) * 8 {
		b := bytes.Clone(sealed)
		b[i/8] ^= 1 << (i % 8)
		if _, err := s.Unseal(b, testAAD); !errors.Is(err, ErrUnseal) {
			t.Fatalf("bit %d flipped: err = %v, want ErrUnseal", i, err)
		}
	}
	for n := range len(sealed) {
		if _, err := s.Unseal(sealed[:n], testAAD); !errors.Is(err, ErrUnseal) {
			t.Fatalf("truncated to %d: err = %v, want ErrUnseal", n, err)
		}
	}
}

// A store copied to another machine is useless without its root keyring,
// even though both keyrings name their first key id 1.
func TestOtherKeyringCannotUnseal(t *testing.T) {
	a, _ := openTemp(t)
	b, _ := openTemp(t)
	if a.ActiveID() != b.ActiveID() {
		t.Fatalf("precondition: active ids differ (%d, %d)", a.ActiveID(), b.ActiveID())
	}
	store := make([][]byte, 50)
	for i := range store {
		store[i], _ = a.Seal(secret.Bytes{byte(i), 1, 2, 3}, testAAD)
	}
	for i, rec := range store {
		if _, err := b.Unseal(rec, testAAD); !errors.Is(err, ErrUnseal) {
			t.Fatalf("record %d unsealed under another keyring: %v", i, err)
		}
	}
}

func TestReopenUnsealsEarlierRecords(t *testing.T) {
	s, path := openTemp(t)
	sealed, _ := s.Seal(secret.Bytes("persisted"), testAAD)
	again, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Unseal(sealed, testAAD); err != nil || string(got) != "persisted" {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestFilePermissions(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("keyring mode = %04o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("keyring directory mode = %04o, want 0700", perm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the keyring (temp file left behind?)", len(entries))
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFile(path)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: OpenFile error = %v, want one that names chmod 600", mode, err)
		}
	}
}

func TestFileFormat(t *testing.T) {
	_, path := openTemp(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version int    `json:"version"`
		Active  uint32 `json:"active"`
		Keys    []struct {
			ID      uint32 `json:"id"`
			Key     string `json:"key"`
			Created string `json:"created"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || len(f.Keys) != 1 || f.Keys[0].ID != f.Active || len(f.Keys[0].Key) != 44 || f.Keys[0].Created == "" {
		t.Fatalf("unexpected keyring file:\n%s", data)
	}
}

func TestRejectsMalformedKeyring(t *testing.T) {
	key := `"` + strings.Repeat("A", 43) + `="`
	cases := map[string]string{
		"not json":       `{`,
		"version 2":      `{"version":2,"active":1,"keys":[{"id":1,"key":` + key + `,"created":"2026-01-01T00:00:00Z"}]}`,
		"no keys":        `{"version":1,"active":1,"keys":[]}`,
		"active missing": `{"version":1,"active":2,"keys":[{"id":1,"key":` + key + `,"created":"2026-01-01T00:00:00Z"}]}`,
		"short key":      `{"version":1,"active":1,"keys":[{"id":1,"key":"AAAA","created":"2026-01-01T00:00:00Z"}]}`,
		"duplicate id":   `{"version":1,"active":1,"keys":[{"id":1,"key":` + key + `,"created":"2026-01-01T00:00:00Z"},{"id":1,"key":` + key + `,"created":"2026-01-01T00:00:00Z"}]}`,
		"bad time":       `{"version":1,"active":1,"keys":[{"id":1,"key":` + key + `,"created":"yesterday"}]}`,
		"unknown field":  `{"version":1,"active":1,"extra":true,"keys":[{"id":1,"key":` + key + `,"created":"2026-01-01T00:00:00Z"}]}`,
	}
	for name, body := range cases {
		path := filepath.Join(t.TempDir(), "root.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenFile(path); err == nil {
			t.Errorf("%s: OpenFile accepted a malformed keyring", name)
		}
	}
}

func TestRotate(t *testing.T) {
	s, path := openTemp(t)
	first := s.ActiveID()
	old, _ := s.Seal(secret.Bytes("old material"), testAAD)

	id, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id == first || s.ActiveID() != id {
		t.Fatalf("Rotate returned %d, ActiveID %d, first %d", id, s.ActiveID(), first)
	}
	fresh, _ := s.Seal(secret.Bytes("new material"), testAAD)
	if got := uint32(fresh[1])<<24 | uint32(fresh[2])<<16 | uint32(fresh[3])<<8 | uint32(fresh[4]); got != id {
		t.Errorf("new seal names root key %d, want %d", got, id)
	}

	// The rotation is durable and keeps the old key: a fresh open reads both.
	again, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if again.ActiveID() != id {
		t.Errorf("reopened ActiveID = %d, want %d", again.ActiveID(), id)
	}
	for _, sl := range []*FileSeal{s, again} {
		if got, err := sl.Unseal(old, testAAD); err != nil || string(got) != "old material" {
			t.Errorf("old record after rotate: %v", err)
		}
		if got, err := sl.Unseal(fresh, testAAD); err != nil || string(got) != "new material" {
			t.Errorf("new record after rotate: %v", err)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after rotate = %04o", fi.Mode().Perm())
	}
}

// A rotation that cannot be persisted must leave the seal unchanged, or
// records sealed under the new key would be lost at restart.
func TestRotateWriteFailureChangesNothing(t *testing.T) {
	s, path := openTemp(t)
	before := s.ActiveID()
	sealed, _ := s.Seal(secret.Bytes("before"), testAAD)
	// A directory in place of the keyring makes the final rename fail, even
	// for root, which ignores permission bits.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(); err == nil {
		t.Fatal("Rotate succeeded although the keyring could not be written")
	}
	if s.ActiveID() != before {
		t.Fatalf("ActiveID changed to %d after a failed rotate", s.ActiveID())
	}
	after, _ := s.Seal(secret.Bytes("after"), testAAD)
	if after[4] != sealed[4] {
		t.Fatal("seals use a root key that was never persisted")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("failed rotate left %d entries behind", len(entries))
	}
}

func TestConcurrentSealUnseal(t *testing.T) {
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				pt := secret.Bytes{byte(g), byte(i), 0xEE}
				sealed, err := s.Seal(pt, testAAD)
				if err != nil {
					errs <- err
					return
				}
				got, err := s.Unseal(sealed, testAAD)
				if err != nil || !got.Equal(pt) {
					errs <- errors.New("round trip failed under concurrency")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := s.Rotate(); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrorsCarryNoSecret(t *testing.T) {
	s, path := openTemp(t)
	data, _ := os.ReadFile(path)
	os.Chmod(path, 0o644)
	_, err := OpenFile(path)
	var f struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	json.Unmarshal(data, &f)
	if err == nil || strings.Contains(err.Error(), f.Keys[0].Key) {
		t.Fatalf("error leaks the root key or is missing: %v", err)
	}
	_, err = s.Unseal([]byte("garbage"), testAAD)
	if err.Error() != ErrUnseal.Error() {
		t.Fatalf("Unseal error carries detail: %v", err)
	}
}
