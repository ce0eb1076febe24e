package pgtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestWithParam checks that the parameter reaches the connection settings
// of both DSN forms, overriding an earlier value.
func TestWithParam(t *testing.T) {
	for _, dsn := range []string{
		"host=/tmp/x user=postgres dbname=db",
		"host=/tmp/x user=postgres dbname=db search_path=old",
		"postgres://postgres@localhost/db",
		"postgres://postgres@localhost/db?search_path=old&sslmode=disable",
	} {
		cfg, err := pgconn.ParseConfig(WithParam(dsn, "search_path", "kmsd_test_abc"))
		if err != nil {
			t.Fatalf("WithParam(%q): %v", dsn, err)
		}
		if got := cfg.RuntimeParams["search_path"]; got != "kmsd_test_abc" {
			t.Errorf("WithParam(%q): search_path = %q", dsn, got)
		}
		if cfg.Database != "db" {
			t.Errorf("WithParam(%q): database = %q, want db", dsn, cfg.Database)
		}
	}
}

func TestMajorOf(t *testing.T) {
	for dir, want := range map[string]int{
		"/usr/lib/postgresql/15/bin": 15,
		"/usr/lib/postgresql/9/bin":  9,
		"/usr/lib/postgresql/x/bin":  0,
	} {
		if got := majorOf(dir); got != want {
			t.Errorf("majorOf(%q) = %d, want %d", dir, got, want)
		}
	}
}

// TestBaseDirReachable checks that, as root, clusters are not made where
// the unprivileged server user cannot reach them.
func TestBaseDirReachable(t *testing.T) {
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(private, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	want := tmp
	if os.Geteuid() == 0 {
		want = "/tmp"
	}
	if got := baseDir(); got != want {
		t.Errorf("baseDir() with TMPDIR under a private directory = %q, want %q", got, want)
	}
}
