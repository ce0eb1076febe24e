package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeCustomKeyStores runs the section's commands as written, with
// the ports and the binary pointed at the test's, in a fresh directory.
func TestReadmeCustomKeyStores(t *testing.T) {
	t.Parallel()
	sec := readmeSection(t, "Custom key stores")
	addrs := freeAddrs(t, 2)
	kmsPort, proxyPort := portOf(addrs[0]), portOf(addrs[1])
	run := strings.NewReplacer("bin/kmsd", kmsdBin, "127.0.0.1:8081", "127.0.0.1:"+proxyPort,
		"127.0.0.1:8080", "127.0.0.1:"+kmsPort).Replace(shBlocks(sec))
	// The second kmsd listens on its own port; the first on the default one.
	run = strings.Replace(run, "--hsm-cluster", "--listen 127.0.0.1:"+kmsPort+" --hsm-cluster", 1)
	dir := t.TempDir()
	out := runReadmeScript(t, dir, run)
	if !strings.Contains(out, "hello, token\n") || !strings.Contains(out, "hello, proxy\n") {
		t.Fatalf("the section's commands:\n%s", out)
	}
	// The PIN and the proxy secret are in no answer or log line, and
	// nowhere in the KMS side's data directory (sealed in its store).
	secrets := []string{"Kmsuser-Pin1", "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"}
	var seen strings.Builder
	seen.WriteString(out)
	err := filepath.WalkDir(filepath.Join(dir, "kmsd-data"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, rerr := os.ReadFile(path)
			seen.Write(b)
			err = rerr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(seen.String(), s) {
			t.Errorf("%q appears in the output or in kmsd-data", s)
		}
	}
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
