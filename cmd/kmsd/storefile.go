package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/postgres"
	"github.com/kmsd/kmsd/internal/store/schema"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// storeSchema is the layout of the records this kmsd writes. Every store
// written before versions were recorded is version 1. To change the
// layout, append a migration: it runs at the next start of every store,
// one transaction per version, and older kmsd releases then refuse the
// store instead of misreading it.
func storeSchema() schema.Plan {
	return schema.Plan{Current: 6, Release: version, Migrations: []schema.Migration{
		{To: 2, Name: "index aliases by their key", Apply: kms.IndexAliasesByKey},
		{To: 3, Name: "count keys by state", Apply: kms.CountKeysByState},
		{To: 4, Name: "store key uses compactly", Apply: kms.CompactKeyUses},
		{To: 5, Name: "store key records compactly", Apply: kms.CompactKeyRecords},
		{To: 6, Name: "keep key uses in runs", Apply: kms.KeyUseRuns},
	}}
}

// restoreHint is what to do about a damaged store in dir.
func restoreHint(dir string) string {
	return fmt.Sprintf("restore it from a backup (kmsd admin restore --data %s --in BACKUP); kmsd admin check --data %s reports everything that is wrong", dir, dir)
}

// openBoltStore opens the data file at dbPath for a server or an admin
// command and runs bbolt's consistency check before anything reads or
// writes it, refusing a damaged file with what to do about it. log may be
// nil (admin commands).
func openBoltStore(ctx context.Context, dbPath string, log *slog.Logger) (*bolt.Store, error) {
	st, err := bolt.Open(dbPath)
	if err == nil {
		if note := st.Note(); note != "" && log != nil {
			log.Warn("store: "+note, "file", dbPath)
		}
		if err = st.Check(ctx); err != nil {
			st.Close()
		}
	}
	if errors.Is(err, bolt.ErrCorrupt) {
		return nil, fmt.Errorf("%w; kmsd will not use it: %s", err, restoreHint(filepath.Dir(dbPath)))
	}
	return st, err
}

// prepareStore runs once the store (dbPath names it, for messages) is open
// and its root keyring matched, before anything else reads it: it
// authenticates every record (one that fails is logged by bucket and key
// and refused whenever it is read, so the rest keeps working) and runs the
// schema migrations (a store of a newer kmsd is refused). log may be nil
// (admin commands). Both backends use it.
func prepareStore(ctx context.Context, st *sealed.Store, dbPath string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	listed := 20 // records named in the log; check names them all
	v, err := st.Verify(ctx, func(err error) {
		if listed--; listed >= 0 {
			log.Error("store: a record failed authentication; it is refused whenever it is read", "error", err)
		}
	})
	if err != nil {
		return fmt.Errorf("store %s: authenticate its records: %w", dbPath, err)
	}
	if v.Failed > 0 {
		log.Error(fmt.Sprintf("store: %d of %d records failed authentication; the keys, aliases or identities they hold are refused. Run kmsd admin check for the full list, and restore a backup if they matter", v.Failed, v.Records), "store", dbPath)
	}
	res, err := storeSchema().Migrate(ctx, st)
	if err != nil {
		return fmt.Errorf("store %s: %w", dbPath, err)
	}
	for _, name := range res.Applied {
		log.Info("store: migrated", "migration", name, "from", res.From, "to", res.To)
	}
	return nil
}

// storeReport is what inspecting a store file found.
type storeReport struct {
	Pages        int64
	PageSize     int
	Note         string
	Fingerprints []sealed.Fingerprint
	Version      int
	WrittenBy    string
	Verified     sealed.Verified
}

// inspectStore examines the store file at dbPath without changing it:
// its structure and bbolt's consistency check, then what inspectSealed
// checks. It fails at the first finding that makes the file unusable;
// records that fail authentication are counted, not fatal.
func inspectStore(ctx context.Context, dbPath, keyPath string, sc SealConfig, bad func(error)) (storeReport, error) {
	var r storeReport
	raw, err := bolt.OpenReadOnly(dbPath)
	if err != nil {
		return r, err
	}
	defer raw.Close()
	r.Note = raw.Note()
	if r.Pages, r.PageSize, err = raw.Pages(ctx); err != nil {
		return r, err
	}
	if err := raw.Check(ctx); err != nil {
		return r, err
	}
	return inspectSealed(ctx, raw, dbPath, keyPath, sc, r, bad)
}

// inspectShared examines a cluster's PostgreSQL store as inspectSealed
// does; a cluster node's keyring is a plaintext file (no seal). The
// database's own consistency is PostgreSQL's to keep (its WAL, pg_amcheck).
func inspectShared(ctx context.Context, dsn, keyPath string, bad func(error)) (storeReport, error) {
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		return storeReport{}, fmt.Errorf("open the PostgreSQL store: %w", err)
	}
	defer pg.Close()
	return inspectSealed(ctx, pg, redactDSN(dsn), keyPath, SealConfig{}, storeReport{}, bad)
}

// inspectSealed checks, without writing, the root keyring check value
// that raw records against the keyring at keyPath (opened with the seal
// settings sc), every record's authentication (bad hears of each record
// that fails) and the schema version. name says which store raw is, for
// messages.
func inspectSealed(ctx context.Context, raw store.Store, name, keyPath string, sc SealConfig, r storeReport, bad func(error)) (storeReport, error) {
	var err error
	if r.Fingerprints, err = sealed.Fingerprints(ctx, raw); err != nil {
		if errors.Is(err, sealed.ErrNoCheck) {
			return r, fmt.Errorf("%s: %w; a store written by a kmsd before 0.1.0 gets one when a server starts on it", name, err)
		}
		return r, fmt.Errorf("%s: %w", name, err)
	}
	ring, err := openConfiguredKeyring(ctx, keyPath, sc)
	if errors.Is(err, fs.ErrNotExist) {
		return r, &sealed.KeyringError{Path: keyPath, Missing: true, Expected: r.Fingerprints}
	}
	if err != nil {
		return r, err
	}
	st, err := sealed.OpenReadOnly(ctx, raw, sealed.Config{Keyring: ring, KeyringPath: keyPath})
	if err != nil {
		return r, err
	}
	if r.Verified, err = st.Verify(ctx, bad); err != nil {
		return r, err
	}
	if r.Version, r.WrittenBy, err = schema.Read(ctx, st); err != nil {
		return r, err
	}
	_, err = storeSchema().Check(ctx, st)
	return r, err
}
