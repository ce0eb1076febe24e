package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
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

// TestHelpExplainsEveryFlag: kmsd --help lists the commands, and each
// command's --help (or kmsd help CMD) exits 0 and explains every flag with
// an example.
func TestHelpExplainsEveryFlag(t *testing.T) {
	t.Parallel()
	out, err := runBin(t, "--help")
	if err != nil || !strings.Contains(out, "Commands:") || !strings.Contains(out, "healthcheck") || !strings.Contains(out, "kmsd help serve") {
		t.Fatalf("kmsd --help: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args  []string
		flags []string
	}{
		{[]string{"dev", "--help"}, []string{"listen", "data", "enforce", "config", "print-config", "regions", "log-level", "insecure-allow-permissive-listener"}},
		{[]string{"serve", "-h"}, []string{"listen", "tls-cert", "tls-key", "config", "quotas", "insecure-allow-plaintext-listener"}},
		{[]string{"help", "serve"}, []string{"listen", "tls-cert"}},
		{[]string{"admin", "create-access-key", "--help"}, []string{"config", "data", "account-id", "user"}},
		{[]string{"admin", "explain", "--help"}, []string{"config", "principal", "action", "key", "context"}},
		{[]string{"audit", "verify", "--help"}, []string{"data", "file", "public-key", "anchor-seq"}},
		{[]string{"healthcheck", "--help"}, []string{"url", "listen", "timeout"}},
	} {
		out, err := runBin(t, tc.args...)
		if err != nil {
			t.Errorf("kmsd %v: %v\n%s", tc.args, err, out)
			continue
		}
		for _, want := range []string{"Usage:", "Flags:", "Examples:"} {
			if !strings.Contains(out, want) {
				t.Errorf("kmsd %v lacks %q:\n%s", tc.args, want, out)
			}
		}
		// Every flag's block, from its "  --name" line to the next, has
		// an example.
		blocks := regexp.MustCompile(`(?m)^  --`).Split(strings.SplitN(strings.SplitN(out, "\nFlags:\n", 2)[1], "\nExamples:", 2)[0], -1)[1:]
		seen := map[string]bool{}
		for _, b := range blocks {
			name := strings.Fields(b)[0]
			seen[name] = true
			if !strings.Contains(b, "e.g.") {
				t.Errorf("kmsd %v: --%s has no example:\n  --%s", tc.args, name, b)
			}
		}
		for _, f := range tc.flags {
			if !seen[f] {
				t.Errorf("kmsd %v does not explain --%s:\n%s", tc.args, f, out)
			}
		}
	}
	if out, err := runBin(t, "dev", "--no-such-flag"); err == nil || !strings.Contains(out, "flag provided but not defined: -no-such-flag") {
		t.Errorf("an unknown flag: %v\n%s", err, out)
	}
}

// TestVersion: kmsd version and kmsd --version print the release, the
// module, the VCS commit the binary was built from and the Go version.
func TestVersion(t *testing.T) {
	t.Parallel()
	// Built with VCS stamping asked for explicitly: GOFLAGS may turn it off.
	bin := filepath.Join(t.TempDir(), "kmsd")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`vcs\.revision=([0-9a-f]{40})`).FindSubmatch(info)
	if m == nil {
		t.Fatalf("the binary carries no VCS revision:\n%s", info)
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("kmsd %s: %v", arg, err)
		}
		for _, want := range []string{"kmsd " + version, "module: github.com/kmsd/kmsd", "commit: " + string(m[1]), "go:     " + runtime.Version()} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kmsd %s lacks %q:\n%s", arg, want, out)
			}
		}
	}
}

// TestSIGHUPStopsGracefully: SIGHUP (a closed terminal) stops kmsd as
// SIGTERM does: exit status 0, and the last key usage is flushed, so it
// is there after a restart.
func TestSIGHUPStopsGracefully(t *testing.T) {
	ctx := context.Background()
	data, addr := t.TempDir(), freeAddr(t)
	p := startKMSD(t, "dev", "--data", data, "--listen", addr)
	c := p.client(docKey, docSecret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("kmsd after SIGHUP: %v, want a graceful exit\nstderr:\n%s", err, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("no graceful shutdown in the log:\n%s", p.stderr)
	}
	p = startKMSD(t, "dev", "--data", data, "--listen", addr)
	lu, err := p.client(docKey, docSecret).GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: k.KeyMetadata.KeyId})
	if err != nil || lu.KeyLastUsage == nil || lu.KeyLastUsage.Operation != types.KeyLastUsageTrackingOperationEncrypt {
		t.Fatalf("last usage after SIGHUP and a restart: %+v, %v; want the Encrypt", lu, err)
	}
	p.stop()
}

// TestHealthcheckCommand: kmsd healthcheck exits 0 against a live server
// (found from --listen, KMSD_LISTEN or --url) and 1 when none answers.
func TestHealthcheckCommand(t *testing.T) {
	addr := freeAddr(t)
	p := startKMSD(t, "dev", "--data", t.TempDir(), "--listen", addr)
	if out, err := runBin(t, "healthcheck", "--listen", addr); err != nil || !strings.Contains(out, "healthy: http://"+addr+"/healthz") {
		t.Fatalf("healthcheck --listen: %v\n%s", err, out)
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(kmsdBin, "healthcheck")
	cmd.Env = append(os.Environ(), "KMSD_LISTEN=0.0.0.0:"+port)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "healthy: http://127.0.0.1:"+port+"/healthz") {
		t.Fatalf("healthcheck with KMSD_LISTEN on every interface: %v\n%s", err, out)
	}
	if out, err := runBin(t, "healthcheck", "--url", p.url+"/readyz"); err != nil {
		t.Fatalf("healthcheck --url: %v\n%s", err, out)
	}
	p.stop()
	out, err := runBin(t, "healthcheck", "--listen", addr, "--timeout", "2s")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("healthcheck of a stopped server: %v\n%s; want exit status 1", err, out)
	}
}
