package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kmsd/kmsd/internal/store/bolt"
)

// errPostgresBackup sends a cluster's operator to PostgreSQL's own tools.
var errPostgresBackup = errors.New("this server's store is a PostgreSQL database: back it up with pg_dump and restore it with pg_restore, then run kmsd admin check --store (README: Backup, restore and checks)")

// runBackup writes a verified copy of a data directory's store to --out:
// from the running server through its admin socket, or from the file
// when no server runs.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var out *string
	cfg, err := parseStoreFlags("kmsd admin backup", "data directory of the store to back up", args, stderr, getenv, func(fs *flag.FlagSet, _ *Config) {
		out = fs.String("out", "", "file to write the backup to; it must not exist yet (e.g. --out /backups/kmsd-2025-01-31.db)")
	})
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("give --out FILE, where the backup goes (see kmsd admin backup --help)")
	}
	if cfg.ephemeral() {
		return errors.New("an ephemeral server keeps its store in its own memory: there is nothing to back up")
	}
	if cfg.Store != "" {
		return errPostgresBackup
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s already exists: give a new file name, or remove it first", *out)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*.partial")
	if err != nil {
		return fmt.Errorf("create the backup file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	online, err := snapshot(ctx, cfg.DataDir, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dbPath, keyPath, _ := dataPaths(cfg.DataDir)
	var bad []string
	r, err := inspectStore(ctx, tmp.Name(), keyPath, cfg.Seal, func(err error) { bad = append(bad, err.Error()) })
	if err != nil {
		return fmt.Errorf("the backup of %s failed its check, so it was not kept: %w", dbPath, err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("the backup of %s was not kept: %d of its %d records fail authentication (%s); run kmsd admin check --data %s",
			dbPath, len(bad), r.Verified.Records, strings.Join(bad[:min(len(bad), 3)], "; "), cfg.DataDir)
	}
	if err := keepAs(tmp.Name(), *out); err != nil {
		return fmt.Errorf("keep the backup as %s: %w", *out, err)
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	how := "from the stopped server's store"
	if online {
		how = "while the server runs, through " + socketPath(cfg.DataDir)
	}
	fmt.Fprintf(stdout, "Backed up %s to %s %s.\n", dbPath, *out, how)
	printStoreReport(stdout, r)
	fmt.Fprintf(stdout, "\nThe backup is useless without the root keyring it names: keep a copy of %s, apart from the backup.\n", keyPath)
	fmt.Fprintf(stdout, "To restore it, stop the server and run: kmsd admin restore --data %s --in %s\n", cfg.DataDir, *out)
	return nil
}

// snapshot copies the store of dataDir to w: from the file when no server
// runs on it, else from the server. online says which.
func snapshot(ctx context.Context, dataDir string, w io.Writer) (online bool, err error) {
	dbPath, _, _ := dataPaths(dataDir)
	st, err := bolt.OpenReadOnly(dbPath)
	if errors.Is(err, bolt.ErrLocked) {
		_, err = fetchBackup(ctx, dataDir, w)
		return true, err
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("%s holds no store: %s does not exist", dataDir, dbPath)
	}
	if errors.Is(err, bolt.ErrCorrupt) {
		return false, fmt.Errorf("%w: %s", err, restoreHint(dataDir))
	}
	if err != nil {
		return false, err
	}
	defer st.Close()
	_, err = st.Backup(ctx, func(int64) (io.Writer, error) { return w, nil })
	return false, err
}

// printStoreReport says what a store file holds, for backup, restore and check.
func printStoreReport(w io.Writer, r storeReport) {
	if r.PageSize > 0 {
		fmt.Fprintf(w, "  store:     %d pages of %d bytes, bbolt's consistency check passed\n", r.Pages, r.PageSize)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  note:      %s\n", r.Note)
	}
	fps := make([]string, len(r.Fingerprints))
	for i, f := range r.Fingerprints {
		fps[i] = f.String()
	}
	fmt.Fprintf(w, "  sealed by: %s\n", strings.Join(fps, ", "))
	by := ""
	if r.WrittenBy != "" {
		by = " (recorded by kmsd " + r.WrittenBy + ")"
	}
	fmt.Fprintf(w, "  schema:    version %d%s; this kmsd reads up to %d\n", r.Version, by, storeSchema().Current)
	fmt.Fprintf(w, "  records:   %d in %d buckets, %d failing authentication\n", r.Verified.Records, r.Verified.Buckets, r.Verified.Failed)
}

// keepAs gives the finished file tmp its name: by a hard link, which never
// replaces a file that appeared meanwhile, or by a rename where the file
// system has no hard links.
func keepAs(tmp, name string) error {
	err := os.Link(tmp, name)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(name); !errors.Is(serr, os.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, name)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
