package keys

import (
	"bytes"
	"testing"
)

func TestCanonicalContext(t *testing.T) {
	cases := []struct {
		ec   map[string]string
		want []byte
	}{
		{nil, []byte{0}},
		{map[string]string{}, []byte{0}},
		{map[string]string{"": ""}, []byte{1, 0, 0}},
		{map[string]string{"b": "2", "a": "1"}, []byte{2, 1, 'a', 1, '1', 1, 'b', 1, '2'}},
		// Byte order, not case-folded: "B" (0x42) sorts before "a" (0x61).
		{map[string]string{"a": "", "B": ""}, []byte{2, 1, 'B', 0, 1, 'a', 0}},
	}
	for _, c := range cases {
		if got := CanonicalContext(c.ec); !bytes.Equal(got, c.want) {
			t.Errorf("CanonicalContext(%v) = %x, want %x", c.ec, got, c.want)
		}
	}
	long := string(bytes.Repeat([]byte{'k'}, 200))
	got := CanonicalContext(map[string]string{long: "v"})
	if !bytes.Equal(got[:3], []byte{1, 0xc8, 0x01}) {
		t.Errorf("200-byte key is not uvarint-prefixed: % x", got[:3])
	}
}

// Shifting bytes between keys and values must never yield the same encoding.
func TestCanonicalContextInjective(t *testing.T) {
	ecs := []map[string]string{
		{"ab": "c"}, {"a": "bc"}, {"a": "b", "c": ""}, {"abc": ""}, {"": "abc"},
		{"a": "b"}, {"a": "B"}, {"A": "b"},
	}
	seen := map[string]int{}
	for i, ec := range ecs {
		k := string(CanonicalContext(ec))
		if j, dup := seen[k]; dup {
			t.Errorf("contexts %v and %v encode the same", ecs[j], ec)
		}
		seen[k] = i
	}
}
