package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrashHookNotInReleaseBuild: a kmsd built as it is released (without
// the kmsdtest tag of the crash tests' build) ignores
// KMSD_TEST_ROTATE_ROOT_CRASH_AFTER: a server started with it set rotates
// its root keyring online and keeps serving, and so does rotate-root run
// with it set on a stopped server's data directory.
func TestCrashHookNotInReleaseBuild(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "kmsd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	crash := append(os.Environ(), "KMSD_TEST_ROTATE_ROOT_CRASH_AFTER=1")
	dir := t.TempDir()
	addr := freeAddr(t)
	p := &proc{t: t, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "dev", "--data", dir, "--listen", addr)
	p.cmd.Env = crash
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	p.waitHealthy()
	c := p.client(docKey, docSecret)
	fx := writeSealedFixture(t, c, 3)

	out, err := runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--batch", "1", "--retire")
	if err != nil || !strings.Contains(out, "Retired root key 1") {
		t.Fatalf("online rotate-root on a release build started with the crash variable: %v\n%s", err, out)
	}
	resp, err := http.Get(p.url + "/healthz")
	if err != nil {
		t.Fatalf("the server is gone after the rotation: %v\n%s", err, p.stderr)
	}
	resp.Body.Close()
	fx.assertDecrypts(t, c)
	p.stop()

	offline := exec.Command(bin, "admin", "rotate-root", "--data", dir, "--batch", "1")
	offline.Env = crash
	if out, err := offline.CombinedOutput(); err != nil || !strings.Contains(string(out), "every record is now sealed under it") {
		t.Fatalf("rotate-root of a release build with the crash variable: %v\n%s", err, out)
	}
}
