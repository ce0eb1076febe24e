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
	"time"

	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/schema"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// runRestore puts a backup in place of a stopped server's store, once it
// has checked that the backup is intact, sealed by the data directory's
// root keyring, and readable by this kmsd. The store it replaces is kept.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var in *string
	cfg, err := parseStoreFlags("kmsd admin restore", "data directory whose store the backup replaces; its root.key must be the one that sealed the backup", args, stderr, getenv, func(fs *flag.FlagSet, _ *Config) {
		in = fs.String("in", "", "the backup, written by kmsd admin backup (e.g. --in /backups/kmsd-2025-01-31.db)")
	})
	if err != nil {
		return err
	}
	if *in == "" {
		return errors.New("give --in FILE, the backup to restore (see kmsd admin restore --help)")
	}
	if cfg.ephemeral() {
		return errors.New("an ephemeral server keeps its store in its own memory: there is nothing to restore into")
	}
	if cfg.Store != "" {
		return errPostgresBackup
	}
	dbPath, keyPath, _ := dataPaths(cfg.DataDir)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w. Nothing was changed", missingKeyring(ctx, *in, keyPath))
	}
	unlock, err := bolt.Lock(dbPath)
	if errors.Is(err, bolt.ErrLocked) {
		return fmt.Errorf("a kmsd server is running on %s: stop it first, since a restore replaces the store under it", cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer unlock()

	tmp := dbPath + ".restoring"
	if err := copyFile(*in, tmp); err != nil {
		return err
	}
	defer os.Remove(tmp) // after the rename, there is nothing left to remove
	var bad []string
	r, err := inspectStore(ctx, tmp, keyPath, cfg.Seal, func(err error) { bad = append(bad, err.Error()) })
	if err != nil {
		return fmt.Errorf("%w. Nothing was changed", backupProblem(*in, tmp, err))
	}
	if len(bad) > 0 {
		return fmt.Errorf("backup %s: %d of its %d records fail authentication (%s): it was altered after it was taken. Nothing was changed",
			*in, len(bad), r.Verified.Records, strings.Join(bad[:min(len(bad), 3)], "; "))
	}

	kept := ""
	if _, err := os.Stat(dbPath); err == nil {
		kept = fmt.Sprintf("%s.before-restore-%s", dbPath, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Link(dbPath, kept); err != nil {
			return fmt.Errorf("keep the current store as %s: %w. Nothing was changed", kept, err)
		}
	}
	// One rename swaps the file, so kmsd.db is never missing or partial.
	if err := os.Rename(tmp, dbPath); err != nil {
		return fmt.Errorf("put the backup in place of %s: %w", dbPath, err)
	}
	if err := syncDir(cfg.DataDir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Restored %s into %s.\n", *in, dbPath)
	printStoreReport(stdout, r)
	if kept != "" {
		fmt.Fprintf(stdout, "\nThe store it replaced is kept as %s; delete it once the server runs well on the restored one.\n", kept)
	}
	fmt.Fprintf(stdout, "Keys, aliases, grants and identities are now as they were when the backup was taken; the audit log still records everything since.\n")
	fmt.Fprintf(stdout, "Start the server on %s again.\n", cfg.DataDir)
	return nil
}

// backupProblem words what inspecting the copy at tmp of backup found,
// naming the backup rather than the copy.
func backupProblem(backup, tmp string, err error) error {
	var ce *bolt.CorruptError
	var ke *sealed.KeyringError
	var tn *schema.TooNewError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("backup %s is damaged: %s", backup, ce.Problem)
	case errors.As(err, &ke):
		return keyringMismatch(backup, ke)
	case errors.Is(err, sealed.ErrNoCheck):
		return fmt.Errorf("backup %s holds no check value of the root keyring that sealed it, so it cannot be matched to this data directory: take backups with kmsd admin backup", backup)
	case errors.As(err, &tn):
		return fmt.Errorf("backup %s: %w", backup, err)
	}
	return fmt.Errorf("backup %s: %s", backup, strings.ReplaceAll(err.Error(), tmp, backup))
}

// missingKeyring says which root keyring backup needs at keyPath.
func missingKeyring(ctx context.Context, backup, keyPath string) error {
	st, err := bolt.OpenReadOnly(backup)
	if err != nil {
		return backupProblem(backup, backup, err)
	}
	defer st.Close()
	fps, err := sealed.Fingerprints(ctx, st)
	if err != nil {
		return backupProblem(backup, backup, err)
	}
	return keyringMismatch(backup, &sealed.KeyringError{Path: keyPath, Missing: true, Expected: fps})
}

// keyringMismatch words a backup sealed under another root keyring than
// the data directory's.
func keyringMismatch(backup string, ke *sealed.KeyringError) error {
	list := func(fps []sealed.Fingerprint) string {
		s := make([]string, len(fps))
		for i, f := range fps {
			s[i] = f.String()
		}
		return strings.Join(s, ", ")
	}
	if ke.Missing {
		return fmt.Errorf("%s is missing: put the root keyring that sealed backup %s there first (it expects %s)", ke.Path, backup, list(ke.Expected))
	}
	return fmt.Errorf("backup %s was sealed by %s, but %s holds %s: a backup restores only under the root keyring that sealed it. Put that root keyring (kept apart from the backup) at %s first, or restore a backup of this data directory",
		backup, list(ke.Expected), ke.Path, list(ke.Found), ke.Path)
}

// copyFile copies src to a new file dst (mode 0600) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read the backup: %w", err)
	}
	defer in.Close()
	_ = os.Remove(dst) // left by a restore that was interrupted
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy the backup into %s: %w", filepath.Dir(dst), err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("copy the backup into %s: %w", filepath.Dir(dst), err)
	}
	return nil
}
