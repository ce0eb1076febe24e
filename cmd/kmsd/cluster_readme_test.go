package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testReadmeCluster runs the README's cluster walkthrough, the first sh
// block of its "Run a cluster" section, as written, with the throwaway
// database's URL for KMSD_STORE and free ports for the two nodes.
// (TestReadmeExamples runs only the bash blocks, against a dev server.)
func testReadmeCluster(t *testing.T, pg *pgServer) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Run a cluster\n")
	if !ok {
		t.Fatal(`the README has no "## Run a cluster" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("the README's cluster section has no sh block")
	}
	block := m[1]
	store := regexp.MustCompile(`(?m)^export KMSD_STORE=.*$`)
	if !store.MatchString(block) {
		t.Fatal("the cluster block sets no KMSD_STORE")
	}
	block = store.ReplaceAllLiteralString(block, "export KMSD_STORE='"+pg.store(t)+"'")
	addrs := freeAddrs(t, 2)
	a, b := addrs[0], addrs[1]
	block = strings.NewReplacer("127.0.0.1:8443", a, "127.0.0.1:8444", b, "bin/kmsd", kmsdBin).Replace(block)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+block)
	dir := t.TempDir()
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	// Its own process group, so nodes it left running are ended with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A node left running after the script ends holds its output open.
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		logs := exec.Command("sh", "-c", "tail -n 20 node-a.log node-b.log")
		logs.Dir = dir
		tail, _ := logs.CombinedOutput()
		t.Fatalf("the README's cluster block failed: %v\n%s\nnode logs:\n%s", err, out, tail)
	}
	for _, want := range []string{"DisabledException", "refused by node b", "hash chain intact", "anchor: record seq"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the cluster block's output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "hash chain intact"); n != 2 {
		t.Errorf("%d logs verified, want both nodes':\n%s", n, out)
	}
}
