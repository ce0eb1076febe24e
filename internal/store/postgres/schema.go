package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// schemaVersion is the version of the tables this package reads and
// writes. A change to them bumps it and adds a step to migrate.
const schemaVersion = 1

// migrateLock is the advisory lock key that serializes Opens racing to
// create the tables: concurrent CREATE TABLE IF NOT EXISTS can fail on
// PostgreSQL's catalog unique indexes. It is "kmsd" in ASCII.
const migrateLock = 0x6b6d7364

// schemaSQL creates the tables. The CHECKs keep empty names out even if a
// future caller forgets Put's own check.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS kmsd_kv (
	bucket bytea NOT NULL CHECK (length(bucket) > 0),
	key    bytea NOT NULL CHECK (length(key) > 0),
	value  bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS kmsd_schema (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	version   integer NOT NULL
)`

// migrate creates the tables if missing and checks that their version is
// one this package knows.
func (s *Store) migrate(ctx context.Context) error {
	var version int
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(t pgx.Tx) error {
		if _, err := t.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, schemaSQL); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, "INSERT INTO kmsd_schema (version) VALUES ($1) ON CONFLICT DO NOTHING", schemaVersion); err != nil {
			return err
		}
		return t.QueryRow(ctx, "SELECT version FROM kmsd_schema").Scan(&version)
	})
	if err != nil {
		return classify(ctx, "create tables", err)
	}
	if version != schemaVersion {
		return fmt.Errorf("store/postgres: the database holds schema version %d and this kmsd knows version %d: "+
			"run a kmsd release that knows version %d", version, schemaVersion, version)
	}
	return nil
}
