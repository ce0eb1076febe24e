package cloudtrail

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedFileUpToDate runs the generator into a temporary directory
// and compares its output with the committed zz_model.go.
func TestGeneratedFileUpToDate(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("go", "run", "./gen", "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(dir, "zz_model.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zz_model.go")
	if err != nil || !bytes.Equal(got, want) {
		t.Error("zz_model.go is stale; run go generate ./internal/cloudtrail")
	}
}
