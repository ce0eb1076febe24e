package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestMaterialIDString(t *testing.T) {
	id := NewMaterialID()
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 64 lowercase hex digits", s)
	}
	back, err := ParseMaterialID(s)
	if err != nil || back != id {
		t.Fatalf("ParseMaterialID(String()) = %v, %v", back, err)
	}
	if NewMaterialID() == id {
		t.Fatal("two random material ids are equal")
	}
}

func TestParseMaterialIDRejects(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{
		"",
		good[:63],
		good + "0",
		strings.ToUpper(good),
		good[:63] + "g",
		good[:62] + " 0",
		"0x" + good[:62],
	} {
		if _, err := ParseMaterialID(s); !errors.Is(err, ErrInvalidMaterialID) {
			t.Errorf("ParseMaterialID(%q) error = %v, want ErrInvalidMaterialID", s, err)
		}
	}
}

func TestGenerateSymmetric(t *testing.T) {
	a, b := GenerateSymmetric(), GenerateSymmetric()
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("lengths %d, %d; want 32", len(a), len(b))
	}
	if a.Equal(b) {
		t.Fatal("two generated keys are equal")
	}
}
