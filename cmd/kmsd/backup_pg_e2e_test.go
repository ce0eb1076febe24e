package main

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"
)

// pgTool finds a PostgreSQL client program: the newest Debian install,
// else PATH.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.SortFunc(found, func(a, b string) int { return majorOf(b) - majorOf(a) })
	if len(found) > 0 {
		return found[0]
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's postgresql package (make deps does)", name)
	}
	return p
}

func majorOf(binPath string) int {
	n := 0
	for _, c := range filepath.Base(filepath.Dir(filepath.Dir(binPath))) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

// TestPostgresDumpRestoreAndCheck does what the README tells a cluster's
// operator: pg_dump while a node runs, kmsd admin check --store against
// the node's root.key, pg_restore with the nodes stopped, and check again.
// The restored cluster has the dump's keys; a row altered in the database
// is named by check.
func TestPostgresDumpRestoreAndCheck(t *testing.T) {
	ctx := context.Background()
	pg := startPostgres(t)
	storeURL := pg.store(t)
	u, err := url.Parse(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	schemaName := u.Query().Get("search_path")
	dir := t.TempDir()
	n := startNode(t, storeURL, dir)
	c := n.kms()
	kept := createKey(t, c, "in the dump")
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(kept), Plaintext: []byte("pg")})
	if err != nil {
		t.Fatal(err)
	}

	out, code := kmsdAdmin(t, "check", "--data", dir, "--store", storeURL)
	if code != 0 || !strings.Contains(out, "a cluster's PostgreSQL store, against "+filepath.Join(dir, "root.key")) || !strings.Contains(out, "is intact") {
		t.Fatalf("check of a running cluster's store (exit %d):\n%s", code, out)
	}
	dump := filepath.Join(t.TempDir(), "kmsd.dump")
	runTool(t, pgTool(t, "pg_dump"), "--format=custom", "--schema="+schemaName, "--file="+dump, "--dbname="+pg.DSN)
	lost := createKey(t, c, "made after the dump")
	n.stop()

	runTool(t, pgTool(t, "pg_restore"), "--clean", "--if-exists", "--single-transaction", "--dbname="+pg.DSN, dump)
	if out, code := kmsdAdmin(t, "check", "--data", dir, "--store", storeURL); code != 0 || !strings.Contains(out, "is intact") {
		t.Fatalf("check after pg_restore (exit %d):\n%s", code, out)
	}
	for cmd, file := range map[string]string{"backup": "--out", "restore": "--in"} {
		b := exec.Command(kmsdBin, "admin", cmd, "--data", dir, file, filepath.Join(dir, "b.db"))
		b.Env = append(b.Environ(), "KMSD_STORE="+storeURL)
		if out, err := b.CombinedOutput(); err == nil || !strings.Contains(string(out), "store is a PostgreSQL database: back it up with pg_dump") {
			t.Fatalf("kmsd admin %s on a cluster's data directory: %v\n%s", cmd, err, out)
		}
	}

	n = startNode(t, storeURL, dir)
	c = n.kms()
	if dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "pg" {
		t.Fatalf("decrypt after the restore: %v", err)
	}
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(lost)}); errCode(err) != "NotFoundException" {
		t.Fatalf("the key made after the dump: %v, want NotFoundException", err)
	}
	n.stop()

	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "UPDATE "+pgx.Identifier{schemaName, "kmsd_kv"}.Sanitize()+
		" SET value = overlay(value placing '\\x58'::bytea from 40) WHERE bucket = 'keys'::bytea AND convert_from(key, 'UTF8') LIKE $1", "%"+kept)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("alter the key's row: %v (%v)", err, tag)
	}
	out, code = kmsdAdmin(t, "check", "--data", dir, "--store", storeURL)
	if code == 0 || !strings.Contains(out, `NOT AUTHENTIC: store/sealed: bucket "keys", key "111122223333/us-east-1/`+kept+`"`) || strings.Contains(out, "in the dump") {
		t.Fatalf("check of an altered row (exit %d):\n%s", code, out)
	}
}
