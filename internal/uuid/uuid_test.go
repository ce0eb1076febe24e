package uuid

import "testing"

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
