package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeRootOfTrust runs the README's "Root of trust" commands as
// written, beside a dev server standing in for the walkthrough's, with the
// ports pointed at free ones: a kmsd sealed by a key of another (auto-unseal)
// keeps no plaintext keyring, rotates its root key while it runs, refuses to
// start once the wrapping key is disabled, naming AWS's exception; and a
// plaintext keyring moves into a SoftHSM2 token.
func TestReadmeRootOfTrust(t *testing.T) {
	t.Parallel()
	p := startKMSD(t, "dev", "--data", t.TempDir())
	run := strings.NewReplacer("http://127.0.0.1:8080", p.url,
		"127.0.0.1:8081", freeAddr(t), "127.0.0.1:8082", freeAddr(t)).Replace(shBlocks(readmeSection(t, "Root of trust")))
	dir := t.TempDir()
	out := runReadmeScript(t, dir, run, "TMPDIR="+dir, "AWS_ACCESS_KEY_ID="+docKey, "AWS_SECRET_ACCESS_KEY="+docSecret)
	for _, want := range []string{`"seal": "awskms"`, "DisabledException: "} {
		if !strings.Contains(out, want) {
			t.Errorf("the section's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "87654321") {
		t.Errorf("the token's PIN was printed:\n%s", out)
	}
	// Each scratch directory is removed again.
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("the commands left %v behind", left)
	}
}
