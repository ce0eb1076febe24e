package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

func testScan(t *testing.T, f Factory) {
	s := openFresh(t, f)

	// Bytes >= 0x80 and 0x00 catch signed comparisons, collations and
	// C-string handling; "a/10" before "a/2" catches numeric sorting.
	keys := []string{
		"a", "a/1", "a/10", "a/2", "a/2/x", "b", "b/1", "ba",
		"\x00", "\x00\x00", "\x7f", "\x80", "\xff", "\xff\xff", "a\xff", "a\x00",
	}
	update(t, s, func(tx store.Tx) error {
		// Insertion order must not matter.
		for _, i := range rand.Perm(len(keys)) {
			if err := tx.Put([]byte("b"), []byte(keys[i]), []byte("v:"+keys[i])); err != nil {
				return err
			}
		}
		// Neighbouring buckets must not leak into the scan.
		if err := tx.Put([]byte("a"), []byte("a/0"), nil); err != nil {
			return err
		}
		return tx.Put([]byte("c"), []byte("a/0"), nil)
	})
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // Go strings sort bytewise

	tests := []struct {
		name          string
		prefix, after []byte
		limit         int
		want          []string
	}{
		{"all", nil, nil, 0, sorted},
		{"all, negative limit", nil, nil, -1, sorted},
		{"empty prefix and after", []byte{}, []byte{}, 0, sorted},
		{"limit", nil, nil, 3, sorted[:3]},
		{"limit above count", nil, nil, 100, sorted},
		{"prefix", []byte("a/"), nil, 0, []string{"a/1", "a/10", "a/2", "a/2/x"}},
		{"prefix equal to a key", []byte("a/2"), nil, 0, []string{"a/2", "a/2/x"}},
		{"prefix 0x00", []byte("\x00"), nil, 0, []string{"\x00", "\x00\x00"}},
		{"prefix 0xff", []byte("\xff"), nil, 0, []string{"\xff", "\xff\xff"}},
		{"prefix and limit", []byte("a/"), nil, 2, []string{"a/1", "a/10"}},
		{"prefix without match", []byte("zz"), nil, 0, nil},
		{"after is exclusive", []byte("a/"), []byte("a/1"), 0, []string{"a/10", "a/2", "a/2/x"}},
		{"after a missing key", []byte("a/"), []byte("a/15"), 0, []string{"a/2", "a/2/x"}},
		{"after before prefix", []byte("b"), []byte("a"), 0, []string{"b", "b/1", "ba"}},
		{"after past prefix", []byte("a/"), []byte("b"), 0, nil},
		{"after the last key", nil, []byte("\xff\xff"), 0, nil},
		{"after, no prefix", nil, []byte("b/1"), 2, []string{"ba", "\x7f"}},
		{"after, prefix and limit", []byte("a/"), []byte("a/10"), 1, []string{"a/2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var kvs []store.KV
			view(t, s, func(tx store.Tx) error {
				var err error
				kvs, err = tx.Scan([]byte("b"), tc.prefix, tc.after, tc.limit)
				return err
			})
			if got := keysOf(kvs); !slices.Equal(got, tc.want) {
				t.Fatalf("Scan(prefix %q, after %q, limit %d) = %q, want %q",
					tc.prefix, tc.after, tc.limit, got, tc.want)
			}
			for _, kv := range kvs {
				if want := "v:" + string(kv.Key); string(kv.Value) != want {
					t.Errorf("value of %q = %q, want %q", kv.Key, kv.Value, want)
				}
			}
		})
	}

	view(t, s, func(tx store.Tx) error {
		kvs, err := tx.Scan([]byte("never-written"), nil, nil, 0)
		if err != nil || len(kvs) != 0 {
			t.Errorf("Scan of never-written bucket = %q, %v; want nothing, nil", keysOf(kvs), err)
		}
		return nil
	})
}

// testScanPagination feeds the last key of each page back as after, as a
// List* operation's marker does across requests, and checks that every key
// is visited exactly once and in order.
func testScanPagination(t *testing.T, f Factory) {
	s := openFresh(t, f)

	const n = 230
	var all, odd []string
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			prefix := "even/"
			if i%2 == 1 {
				prefix = "odd/"
			}
			// Variable-length keys so byte order differs from numeric order.
			k := fmt.Sprintf("%s%d", prefix, i)
			if err := tx.Put([]byte("b"), []byte(k), []byte(k)); err != nil {
				return err
			}
			all = append(all, k)
			if i%2 == 1 {
				odd = append(odd, k)
			}
		}
		return nil
	})
	slices.Sort(all)
	slices.Sort(odd)

	for _, prefix := range []string{"", "odd/"} {
		want := all
		if prefix != "" {
			want = odd
		}
		for _, size := range []int{1, 7, 50, n} {
			t.Run(fmt.Sprintf("prefix %q page %d", prefix, size), func(t *testing.T) {
				var got []string
				var after []byte
				for pages := 0; ; pages++ {
					if pages > n+1 {
						t.Fatalf("pagination does not end; visited %d keys", len(got))
					}
					var page []store.KV
					view(t, s, func(tx store.Tx) error {
						var err error
						page, err = tx.Scan([]byte("b"), []byte(prefix), after, size)
						return err
					})
					if len(page) > size {
						t.Fatalf("page of %d keys, limit %d", len(page), size)
					}
					if len(page) == 0 {
						break
					}
					got = append(got, keysOf(page)...)
					after = page[len(page)-1].Key
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paginated scan visited %d keys, want each of %d once in order", len(got), len(want))
				}
			})
		}
	}
}
