package uuid

import (
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		u := New()
		if !Valid(u) || u[14] != '4' || seen[u] {
			t.Fatalf("bad or repeated uuid %q", u)
		}
		seen[u] = true
	}
	for _, bad := range []string{"", "1234", "1234abcd-12ab-34cd-56ef-1234567890aZ", "1234abcd-12ab-34cd-56ef+1234567890ab"} {
		if Valid(bad) {
			t.Fatalf("Valid(%q) = true", bad)
		}
	}
}

func TestNewTimeOrdered(t *testing.T) {
	at := time.Date(2026, 12, 3, 15, 4, 5, 678e6, time.UTC)
	u := NewTimeOrdered(at)
	// 0x01a23c6f212e is 2026-12-03T15:04:05.678Z in Unix milliseconds.
	if !Valid(u) || u[14] != '7' || !strings.ContainsRune("89ab", rune(u[19])) || !strings.HasPrefix(u, "01a23c6f-212e-7") {
		t.Fatalf("NewTimeOrdered = %q", u)
	}
	prev := NewTimeOrdered(at)
	for i := 1; i < 1000; i++ {
		u := NewTimeOrdered(at.Add(time.Duration(i) * time.Millisecond))
		if u <= prev {
			t.Fatalf("%q made later sorts before %q", u, prev)
		}
		prev = u
	}
}

// Parse takes exactly the text Format prints, so ids stored as 16 bytes
// come back as they were given; anything else must be kept as text.
func TestParseRoundTrips(t *testing.T) {
	for range 100 {
		s := New()
		b, ok := Parse(s)
		if !ok || Format(b) != s {
			t.Fatalf("Parse(%q) = %x, %v; Format gives %q", s, b, ok, Format(b))
		}
	}
	b, ok := Parse("00112233-4455-6677-8899-aabbccddeeff")
	if !ok || b != [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff} {
		t.Fatalf("Parse = %x, %v", b, ok)
	}
	if got := string(Append([]byte("k|"), b)); got != "k|00112233-4455-6677-8899-aabbccddeeff" {
		t.Fatalf("Append = %q", got)
	}
	// Format prints the bytes as they are: the version and variant bits
	// are New's to set, not Format's.
	if got := Format([16]byte{}); got != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("Format of zeros = %q", got)
	}
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	if got := Format(ones); got != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
		t.Errorf("Format of 0xff bytes = %q", got)
	}
	for range 100 {
		if u := New(); !strings.ContainsRune("89ab", rune(u[19])) {
			t.Fatalf("New() = %q: not the RFC 9562 variant", u)
		}
	}
	for _, bad := range []string{"", "00112233-4455-6677-8899-aabbccddeef",
		"00112233-4455-6677-8899-AABBCCDDEEFF", // upper case would not round-trip
		"00112233+4455-6677-8899-aabbccddeeff", "001122334-455-6677-8899-aabbccddeeff",
		"0011223g-4455-6677-8899-aabbccddeeff"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
