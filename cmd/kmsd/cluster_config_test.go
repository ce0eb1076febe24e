package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreSetting: --store, KMSD_STORE and store: select PostgreSQL for
// serve, in that order of precedence; anything but a postgres:// URL, dev
// mode, a bad node id or a grace under a second is refused with the fix;
// --print-config never shows the password.
func TestStoreSetting(t *testing.T) {
	const url = "postgres://kmsd:s3cret@db.internal:5432/kmsd?sslmode=verify-full"
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	yaml := filepath.Join(t.TempDir(), "kmsd.yaml")
	if err := os.WriteFile(yaml, []byte("store: postgresql://from-yaml/kmsd\nnode_id: a-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		m       mode
		args    []string
		env     map[string]string
		want    string // the store in effect
		wantErr string
	}{
		{"default", modeServe, nil, nil, "", ""},
		{"flag", modeServe, []string{"--store", url}, nil, url, ""},
		{"variable", modeServe, nil, map[string]string{"KMSD_STORE": url}, url, ""},
		{"file", modeServe, []string{"--config", yaml}, nil, "postgresql://from-yaml/kmsd", ""},
		{"flag over variable", modeServe, []string{"--store", url}, map[string]string{"KMSD_STORE": "postgres://other/x"}, url, ""},
		{"not postgres", modeServe, []string{"--store", "mysql://db/kmsd"}, nil, "", "takes a postgres://"},
		{"a file path", modeServe, []string{"--store", "/var/lib/kmsd/kmsd.db"}, nil, "", "leave it empty for the bbolt file"},
		{"dev", modeDev, []string{"--store", url}, nil, "", "a PostgreSQL store (--store) is for kmsd serve"},
		{"bad node id", modeServe, []string{"--store", url, "--node-id", "a b"}, nil, "", "letters, digits"},
		{"short grace", modeServe, []string{"--store", url, "--outbox-grace", "10ms"}, nil, "", "must outlast any request"},
	} {
		cfg, _, err := loadConfig(c.m, c.args, io.Discard, env(c.env))
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: err = %v, want %q", c.name, err, c.wantErr)
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr == "" && cfg.Store != c.want:
			t.Errorf("%s: store %q, want %q", c.name, cfg.Store, c.want)
		}
	}
	var stderr strings.Builder
	cfg, _, err := loadConfig(modeServe, []string{"--store", url}, &stderr, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "--store shows the database password in the process list") {
		t.Errorf("no warning about a password on the command line:\n%s", stderr.String())
	}
	stderr.Reset()
	if _, _, err := loadConfig(modeServe, nil, &stderr, env(map[string]string{"KMSD_STORE": url})); err != nil || stderr.Len() > 0 {
		t.Errorf("KMSD_STORE with a password: %v, warned %q", err, stderr.String())
	}
	if p := cfg.printable(); strings.Contains(p, "s3cret") || !strings.Contains(p, "kmsd:%5Bredacted%5D@db.internal") {
		t.Errorf("--print-config shows:\n%s\nwant the password redacted", p)
	}
}

// TestNodeIDIsKept: a data directory keeps the node id it was first given
// or made, and refuses another.
func TestNodeIDIsKept(t *testing.T) {
	dir := t.TempDir()
	made, err := resolveNodeID(dir, "")
	if err != nil || !validNodeID(made) {
		t.Fatalf("first start: %q, %v", made, err)
	}
	if again, err := resolveNodeID(dir, ""); err != nil || again != made {
		t.Fatalf("second start: %q, %v; want %q", again, err, made)
	}
	if same, err := resolveNodeID(dir, made); err != nil || same != made {
		t.Fatalf("configured as recorded: %q, %v", same, err)
	}
	if _, err := resolveNodeID(dir, "other"); err == nil || !strings.Contains(err.Error(), "belongs to node "+made) {
		t.Fatalf("another id for the same data directory: %v", err)
	}
	if got := nodeAuditPath(dir); got != filepath.Join(dir, "audit", "kmsd-audit-"+made+".jsonl") {
		t.Fatalf("audit log of a cluster node: %s", got)
	}
	plain := t.TempDir()
	if got, want := nodeAuditPath(plain), filepath.Join(plain, "audit", "kmsd-audit.jsonl"); got != want {
		t.Fatalf("audit log of a single node: %s, want %s", got, want)
	}
}
