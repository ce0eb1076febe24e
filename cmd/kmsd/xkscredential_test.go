package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/xksproxy"
)

// TestXKSCredentialMakesAConsoleFile: the command writes the AWS KMS
// console's proxy configuration file with a credential the proxy accepts,
// the same secret to --secret-out, both owner-only, and refuses to
// overwrite them.
func TestXKSCredentialMakesAConsoleFile(t *testing.T) {
	dir := t.TempDir()
	out, sec := filepath.Join(dir, "proxy.json"), filepath.Join(dir, "secret")
	var stdout, stderr bytes.Buffer
	args := []string{"admin", "xks-credential", "--uri-prefix", "tenant-a/", "--out", out, "--secret-out", sec}
	if err := run(context.Background(), args, &stdout, &stderr, os.Getenv); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var f xksProxyFile
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	c := f.XksProxyAuthenticationCredential
	raw, _ := os.ReadFile(sec)
	if f.XksProxyUriPath != "/tenant-a/kms/xks/v1" || strings.TrimSpace(string(raw)) != c.RawSecretAccessKey {
		t.Fatalf("file %s, secret file %q", b, raw)
	}
	if err := xksproxy.ValidateCredential(xksproxy.Credential{AccessKeyID: c.AccessKeyId, Secret: secret.Bytes(c.RawSecretAccessKey)}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, sec} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, st.Mode(), err)
		}
	}
	if !strings.Contains(stderr.String(), "access_key_id: "+c.AccessKeyId) || strings.Contains(stderr.String(), c.RawSecretAccessKey) {
		t.Errorf("next steps: %s", stderr.String())
	}
	// A second run never replaces the files.
	if err := run(context.Background(), args, &stdout, &stderr, os.Getenv); err == nil {
		t.Error("an existing file was overwritten")
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, b) {
		t.Error("the configuration file changed")
	}
}
