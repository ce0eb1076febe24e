//go:build cgo

package softhsmtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

func TestTokensAreUniqueAndOpenable(t *testing.T) {
	long := strings.Repeat("l", 40)
	seen := map[string]bool{}
	for _, label := range []string{"same", "same", long} {
		module, tokenLabel, pin := softhsmtest.NewToken(t, label)
		if seen[tokenLabel] || len(tokenLabel) > 32 || !strings.HasPrefix(tokenLabel, label[:min(len(label), 29)]) {
			t.Fatalf("NewToken(%q) gave label %q (seen before: %v)", label, tokenLabel, seen[tokenLabel])
		}
		seen[tokenLabel] = true
		tok, err := hsm.Open(module, tokenLabel, pin)
		if err != nil {
			t.Fatalf("Open(%q): %v", tokenLabel, err)
		}
		if err := tok.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Another process given Env sees the tokens: softhsm2-util lists them.
func TestEnvReachesSubprocess(t *testing.T) {
	_, tokenLabel, _ := softhsmtest.NewToken(t, "env")
	env := softhsmtest.Env(t)
	if len(env) != 1 || !strings.HasPrefix(env[0], "SOFTHSM2_CONF=") {
		t.Fatalf("Env = %q", env)
	}
	cmd := exec.Command("softhsm2-util", "--show-slots")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --show-slots: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), tokenLabel) {
		t.Fatalf("softhsm2-util does not list token %q:\n%s", tokenLabel, out)
	}
}
