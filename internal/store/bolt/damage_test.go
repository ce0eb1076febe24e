package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
)

// pageInfo is what the damage tests need to know of a page in use.
type pageInfo struct {
	id   int
	typ  string
	size int // bytes, with overflow pages
}

// pristine writes a store with several buckets, a tree deep enough for
// branch pages, values spanning overflow pages and a non-empty freelist,
// and returns its bytes and its pages in use.
func pristine(t testing.TB) ([]byte, []pageInfo, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 3 {
		err = s.Update(ctx, func(tx store.Tx) error {
			for i := range 1500 {
				k := fmt.Sprintf("acct/region/%05d", i)
				if err := tx.Put([]byte("keys"), []byte(k), bytes.Repeat([]byte{byte('a' + round)}, 60)); err != nil {
					return err
				}
			}
			if err := tx.Put([]byte("big"), []byte("value"), bytes.Repeat([]byte("v"), 20000)); err != nil {
				return err
			}
			return tx.Put([]byte("aliases"), []byte("alias/x"), []byte("target"))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var pages []pageInfo
	ps := s.db.Info().PageSize
	err = s.db.View(func(tx *bbolt.Tx) error {
		for id := 2; int64(id) < tx.Size()/int64(ps); id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			pages = append(pages, pageInfo{id: id, typ: p.Type, size: (1 + p.OverflowCount) * ps})
			id += p.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, pages, ps
}

func firstPage(t *testing.T, pages []pageInfo, typ string) pageInfo {
	t.Helper()
	for _, p := range pages {
		if p.typ == typ {
			return p
		}
	}
	t.Fatalf("the test store has no %s page", typ)
	return pageInfo{}
}

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kmsd.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenRefusesDamagedFile damages a store in the ways a disk, a copy
// or a person does, and expects Open to refuse each with a message naming
// the file and the damage: never a crash, never an empty store.
func TestOpenRefusesDamagedFile(t *testing.T) {
	orig, pages, ps := pristine(t)
	branch, leaf := firstPage(t, pages, "branch"), firstPage(t, pages, "leaf")
	inUse := int(newestMeta(t, orig, ps).hwm) * ps
	ne := binary.NativeEndian
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"emptied", func([]byte) []byte { return nil }, "it is empty (0 bytes)"},
		{"cut to 100 bytes", func(b []byte) []byte { return b[:100] }, "it is 100 bytes long, too short to be a kmsd store"},
		{"cut to one page", func(b []byte) []byte { return b[:ps] }, fmt.Sprintf("it was truncated: it is %d bytes long but its pages in use need %d bytes", ps, inUse)},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, "it was truncated: it is"},
		{"last page in use cut", func(b []byte) []byte { return b[:inUse-ps] }, "it was truncated"},
		{"header pages overwritten", func(b []byte) []byte { clear(b[:2*ps]); return b }, "neither of its two header pages is intact"},
		{"branch points past the end", func(b []byte) []byte {
			ne.PutUint64(b[branch.id*ps+16+8:], 1<<40)
			return b
		}, fmt.Sprintf("page %d element 0 refers to page 1099511627776, outside its", branch.id)},
		{"leaf element points outside its page", func(b []byte) []byte {
			ne.PutUint32(b[leaf.id*ps+16+4:], 0xFFFFFFF0)
			return b
		}, fmt.Sprintf("page %d: element 0 points outside the page", leaf.id)},
		{"leaf page zeroed", func(b []byte) []byte {
			clear(b[leaf.id*ps : leaf.id*ps+ps])
			return b
		}, "is labelled page 0: it was overwritten"},
		{"page type overwritten", func(b []byte) []byte {
			ne.PutUint16(b[leaf.id*ps+8:], 0x40)
			return b
		}, "has type 0x40, not a branch or leaf page"},
		{"too many elements", func(b []byte) []byte {
			ne.PutUint16(b[leaf.id*ps+10:], 0xFFFF)
			return b
		}, "claims 65535 elements, more than it holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.damage(bytes.Clone(orig)))
			for _, op := range []func(string) (*Store, error){Open, OpenReadOnly} {
				s, err := op(path)
				if err == nil {
					s.Close()
					t.Fatal("a damaged file was opened")
				}
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v is not a CorruptError", err)
				}
				if !strings.HasPrefix(err.Error(), "data file "+path+" is damaged: ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q\nwant it to name the file and say %q", err, tc.want)
				}
			}
			// Nothing was written over the evidence.
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tc.damage(bytes.Clone(orig))) {
				t.Error("Open changed the damaged file")
			}
		})
	}
}

// A torn write of one header page is what a crash during a commit leaves;
// bbolt reads through the other, and so does Open, saying so.
func TestOpenReadsAroundOneDamagedHeader(t *testing.T) {
	orig, _, ps := pristine(t)
	b := bytes.Clone(orig)
	b[ps+16+20] ^= 0xFF // inside meta page 1, under its checksum
	s, err := Open(writeFile(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(s.Note(), "header page 1 is damaged") {
		t.Errorf("Note() = %q", s.Note())
	}
	if err := s.Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// A page listed as free while a tree still uses it would be handed out
// and overwritten by the next write; the bounds are fine, so Open accepts
// it and Check must catch it.
func TestCheckFindsPageBothUsedAndFree(t *testing.T) {
	orig, pages, ps := pristine(t)
	b := bytes.Clone(orig)
	m := newestMeta(t, b, ps)
	leaf := firstPage(t, pages, "leaf")
	fl := int(m.freelist) * ps
	ne := binary.NativeEndian
	ne.PutUint16(b[fl+10:], 1)
	ne.PutUint64(b[fl+16:], uint64(leaf.id))
	s, err := Open(writeFile(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Check(t.Context())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("page %d: reachable freed", leaf.id)) {
		t.Fatalf("Check = %v", err)
	}
}

// TestDamageNeverCrashes overwrites words of the structure (page headers,
// element arrays) and bytes anywhere with random values, hundreds of
// times: Open, Check and reading every record must each either work or
// fail with an error. A fault inside bbolt's memory map would kill the
// test binary.
func TestDamageNeverCrashes(t *testing.T) {
	orig, pages, ps := pristine(t)
	rng := rand.New(rand.NewPCG(1, 2))
	iterations := 400
	if testing.Short() {
		iterations = 50
	}
	outcomes := map[string]int{}
	for i := range iterations {
		b := bytes.Clone(orig)
		for range 1 + rng.IntN(3) {
			var off int
			if i%2 == 0 {
				p := pages[rng.IntN(len(pages))]
				off = p.id*ps + rng.IntN(min(256, p.size))
			} else {
				off = rng.IntN(len(b))
			}
			word := rng.Uint64()
			for j := 0; j < 8 && off+j < len(b); j++ {
				b[off+j] = byte(word >> (8 * j))
			}
		}
		outcomes[exercise(t, writeFile(t, b))]++
	}
	t.Logf("outcomes: %v", outcomes)
	if outcomes["refused at open"] == 0 || outcomes["refused by check"]+outcomes["refused at open"] == iterations {
		t.Errorf("the damage did not exercise both refusal and acceptance: %v", outcomes)
	}
}

// exercise opens the store at path, checks it and reads every record,
// and says how far it got.
func exercise(t *testing.T, path string) string {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open failed without a CorruptError: %v", err)
		}
		return "refused at open"
	}
	defer s.Close()
	if err := s.Check(t.Context()); err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check failed without a CorruptError: %v", err)
		}
		return "refused by check"
	}
	err = s.View(t.Context(), func(stx store.Tx) error {
		names, err := stx.(*tx).Buckets()
		if err != nil {
			return err
		}
		for _, n := range names {
			if _, err := stx.Scan(n, nil, nil, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "read failed"
	}
	return "accepted"
}

func newestMeta(t *testing.T, b []byte, ps int) meta {
	t.Helper()
	m, ok := parseMeta(b)
	if !ok {
		t.Fatal("meta 0 unreadable")
	}
	if m1, ok := parseMeta(b[ps:]); ok && m1.txid > m.txid {
		m = m1
	}
	return m
}

// FuzzOpenDamaged feeds Open arbitrary files, seeded with a small store:
// opening, checking and reading must never crash.
func FuzzOpenDamaged(f *testing.F) {
	path := filepath.Join(f.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx store.Tx) error {
		for i := range 20 {
			if err := tx.Put([]byte("keys"), fmt.Appendf(nil, "k%02d", i), bytes.Repeat([]byte{'v'}, i*40)); err != nil {
				return err
			}
		}
		return tx.Put([]byte("aliases"), []byte("alias/a"), []byte("k01"))
	})
	if err != nil {
		f.Fatal(err)
	}
	s.Close()
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	for _, off := range []int{8, 4096 + 8, 2*4096 + 10, 3*4096 + 16} {
		b := bytes.Clone(seed)
		if off+8 <= len(b) {
			binary.NativeEndian.PutUint64(b[off:], 0xFFFF_FFFF_0000_0007)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		exercise(t, writeFile(t, b))
	})
}
