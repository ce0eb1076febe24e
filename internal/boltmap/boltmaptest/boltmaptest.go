// Package boltmaptest tells tests how much of a file this process maps.
package boltmaptest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Mapped is how many bytes of the file at path are mapped into this
// process and resident (the Rss of its mappings in /proc/self/smaps).
func Mapped(t testing.TB, path string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var rss int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = f[len(f)-1] == path
			continue
		}
		if in && f[0] == "Rss:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			rss += kb << 10
		}
	}
	return rss
}
