package auditindex

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLowerUUID takes the canonical lower-case spelling of a UUID, and no
// other: upper case, other characters, or dashes elsewhere.
func TestLowerUUID(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcdefABCDEFg-/:`@ \xff"
	for i := range 20000 {
		b := []byte("01234567-89ab-cdef-0123-456789abcdef")
		if i > 0 {
			for j := range b {
				if j != 8 && j != 13 && j != 18 && j != 23 {
					b[j] = "0123456789abcdef"[rng.IntN(16)]
				}
			}
		}
		// Most spoiled in one place, some kept as they are.
		if i%3 != 0 {
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		digits := strings.ReplaceAll(s, "-", "")
		want, err := hex.DecodeString(digits)
		wantOK := err == nil && len(digits) == 32 && strings.ToLower(s) == s &&
			s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
		u, ok := lowerUUID(s)
		if ok != wantOK || ok && string(u[:]) != string(want) {
			t.Fatalf("lowerUUID(%q) = %x, %v; want %x, %v", s, u, ok, want, wantOK)
		}
		if ub, okb := lowerUUID(b); ub != u || okb != ok {
			t.Fatalf("lowerUUID differs between %q as a string and as bytes", s)
		}
	}
}
