package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// signedAuditLog writes a signed log of n records with an anchor file kept
// elsewhere, and a trusted copy of the public key.
func signedAuditLog(t *testing.T, n int) (logPath, pemPath, anchorPath string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(t.TempDir(), "audit", "kmsd-audit.jsonl")
	anchorPath = filepath.Join(t.TempDir(), "anchor.json")
	l, err := audit.OpenFile(logPath, audit.Options{Signer: key, Anchor: audit.FileAnchor{Path: anchorPath}, FailClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := l.Append(audit.NewEvent("Encrypt", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pemPath = filepath.Join(t.TempDir(), "trusted-digest-key.pem")
	b, err := audit.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pemPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return logPath, pemPath, anchorPath
}

// kmsdAudit runs the built binary's audit subcommand.
func kmsdAudit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(kmsdBin, append([]string{"audit", "verify"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func cutLines(t *testing.T, path string, keep int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if err := os.WriteFile(path, bytes.Join(lines[:keep], nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyBinary(t *testing.T) {
	logPath, pemPath, anchorPath := signedAuditLog(t, 6)
	var anchor audit.AnchorState
	if b, err := os.ReadFile(anchorPath); err != nil || json.Unmarshal(b, &anchor) != nil || anchor.LastSeq != 6 {
		t.Fatalf("anchor file: %s, %v", b, err)
	}

	out, errOut, code := kmsdAudit(t, "--file", logPath, "--public-key", pemPath,
		"--anchor-seq", strconv.FormatUint(anchor.LastSeq, 10), "--anchor-hash", anchor.ChainHash)
	if code != 0 || !strings.Contains(out, "6 records") || !strings.Contains(out, "signed digests: 1 verified") ||
		!strings.Contains(out, "through seq 6") || !strings.Contains(out, "anchor: record seq 6 matches") || errOut != "" {
		t.Fatalf("intact log: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = kmsdAudit(t, "--file", logPath)
	if code != 0 || !strings.Contains(errOut, "only the unsigned hash chain was checked") {
		t.Fatalf("without a public key: exit %d\n%s%s", code, out, errOut)
	}

	// Records cut from the end with the head file deleted: the unsigned
	// chain cannot tell; the signed digest can, and names the line.
	cutLines(t, logPath, 4)
	os.Remove(logPath + ".head")
	out, errOut, code = kmsdAudit(t, "--file", logPath, "--public-key", pemPath)
	if code == 0 || !strings.Contains(errOut, logPath+" line 5:") || !strings.Contains(errOut, "removed from the end") {
		t.Fatalf("cut log: exit %d\n%s%s", code, out, errOut)
	}

	// The digest removed too: only the anchor, kept elsewhere, tells.
	os.WriteFile(audit.DigestsPath(logPath), nil, 0o600)
	out, errOut, code = kmsdAudit(t, "--file", logPath, "--public-key", pemPath)
	if code != 0 || !strings.Contains(errOut, "not covered by a signature") {
		t.Fatalf("cut log and digests, no anchor: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"--anchor-file", anchorPath},
		{"--anchor-seq", "6", "--anchor-hash", anchor.ChainHash},
	} {
		out, errOut, code = kmsdAudit(t, append([]string{"--file", logPath, "--public-key", pemPath}, args...)...)
		if code == 0 || !strings.Contains(errOut, " line ") || !strings.Contains(errOut, "anchor") {
			t.Errorf("cut log and digests with %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}
