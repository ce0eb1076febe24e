package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// runBin runs the kmsd binary to completion and returns what it printed on
// stdout and stderr together.
func runBin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kmsdBin, args...).CombinedOutput()
	return string(out), err
}
