package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kmsd/kmsd/internal/store/bolt"
)

// runCheck verifies a store: its structure, bbolt's consistency check,
// its root keyring, every record's authentication and its schema version.
// It changes nothing. On a running server it checks a snapshot taken
// through the admin socket; with --in it checks a backup file against the
// data directory's root keyring.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var in *string
	cfg, err := parseStoreFlags("kmsd admin check", "data directory: its store is checked against its root.key", args, stderr, getenv, func(fs *flag.FlagSet, cfg *Config) {
		in = fs.String("in", "", "check this backup file instead of the data directory's store (e.g. --in /backups/kmsd-2025-01-31.db)")
		fs.StringVar(&cfg.Store, "store", cfg.Store, "a cluster's PostgreSQL store, checked against the root.key in --data (e.g. --store postgres://kmsd@db.internal/kmsd)")
	})
	if err != nil {
		return err
	}
	if cfg.ephemeral() {
		return errors.New("an ephemeral server keeps its store in its own memory: there is nothing to check")
	}
	dbPath, keyPath, _ := dataPaths(cfg.DataDir)
	if cfg.Store != "" {
		return checkShared(ctx, cfg.Store, keyPath, *in, stdout)
	}
	target, how := dbPath, "the server is stopped"
	if *in != "" {
		target, how = *in, "a backup, against "+keyPath
	} else if st, err := bolt.OpenReadOnly(dbPath); errors.Is(err, bolt.ErrLocked) {
		snap, err := snapshotFile(ctx, cfg.DataDir)
		if err != nil {
			return err
		}
		defer os.Remove(snap)
		target, how = snap, "the server is running: a snapshot taken just now through "+socketPath(cfg.DataDir)
	} else if err == nil {
		st.Close()
	}
	fmt.Fprintf(stdout, "Checking %s (%s)\n", firstNonEmpty(*in, dbPath), how)
	failed := 0
	r, err := inspectStore(ctx, target, keyPath, cfg.Seal, func(err error) {
		failed++
		fmt.Fprintf(stdout, "  NOT AUTHENTIC: %v\n", err)
	})
	if err != nil {
		if errors.Is(err, bolt.ErrCorrupt) && *in == "" {
			err = fmt.Errorf("%w: %s", err, restoreHint(cfg.DataDir))
		}
		return fmt.Errorf("check failed: %w", err)
	}
	return checkVerdict(stdout, firstNonEmpty(*in, dbPath), r, failed)
}

// checkShared checks a cluster's PostgreSQL store.
func checkShared(ctx context.Context, dsn, keyPath, in string, stdout io.Writer) error {
	if in != "" {
		return errors.New("--in checks a backup file of a bbolt store; a PostgreSQL backup is checked once pg_restore has put it in a database: give that database with --store")
	}
	if !isPostgresDSN(dsn) {
		return errors.New("--store takes a postgres://user:password@host/db URL")
	}
	name := redactDSN(dsn)
	fmt.Fprintf(stdout, "Checking %s (a cluster's PostgreSQL store, against %s)\n", name, keyPath)
	failed := 0
	r, err := inspectShared(ctx, dsn, keyPath, func(err error) {
		failed++
		fmt.Fprintf(stdout, "  NOT AUTHENTIC: %v\n", err)
	})
	if err != nil {
		return fmt.Errorf("check failed: %w", err)
	}
	return checkVerdict(stdout, name, r, failed)
}

// checkVerdict prints what was found and fails if a record did not
// authenticate.
func checkVerdict(stdout io.Writer, name string, r storeReport, failed int) error {
	printStoreReport(stdout, r)
	if failed > 0 {
		return fmt.Errorf("%s failed its check: %d of %d records fail authentication (listed above): they were altered, or written without its root keyring, and kmsd refuses them. Restore a backup taken before the change, or delete what they hold",
			name, failed, r.Verified.Records)
	}
	fmt.Fprintf(stdout, "OK: %s is intact.\n", name)
	return nil
}

// snapshotFile takes a snapshot of the running server's store into a new
// private file in its data directory and returns the file's name.
func snapshotFile(ctx context.Context, dataDir string) (string, error) {
	f, err := os.CreateTemp(dataDir, ".kmsd-check-*.db")
	if err != nil {
		return "", err
	}
	_, err = fetchBackup(ctx, dataDir, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
