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
