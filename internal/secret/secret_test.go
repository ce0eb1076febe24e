package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestBytesNeverPrints(t *testing.T) {
	s := Bytes("canary-0123456789")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %x %q", s, s, s, s, s, s), s.String(),
		fmt.Sprint(struct{ K Bytes }{s}),
	} {
		if strings.Contains(out, "canary") || strings.Contains(out, "63616e617279") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
	if _, err := json.Marshal(struct{ K Bytes }{s}); err == nil {
		t.Fatal("json.Marshal of a secret succeeded")
	}
}

func TestWipeAndEqual(t *testing.T) {
	a, b := Bytes{1, 2, 3}, Bytes{1, 2, 3}
	if !a.Equal(b) {
		t.Fatal("equal secrets compare unequal")
	}
	c := a.Clone()
	a.Wipe()
	if a.Equal(b) || !c.Equal(b) {
		t.Fatal("Wipe did not zero, or Clone shared memory")
	}
}
