package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/kmsd/kmsd/internal/store"
)

// defaultConnectTimeout bounds one connection attempt when the DSN sets no
// connect_timeout: an unreachable database fails the request in seconds
// instead of after the operating system's TCP timeout.
const defaultConnectTimeout = 5 * time.Second

// endTimeout bounds a commit or rollback once it is sent. They run detached
// from the caller's context: a commit abandoned halfway would leave the
// caller not knowing whether it happened, and a rollback must run even after
// the caller gave up.
const endTimeout = 10 * time.Second

// Store is a store.Store on a PostgreSQL database, through a pool of
// connections. It is safe for concurrent use, and any number of Stores, in
// any number of processes, may share one database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a libpq keyword/value string
// or a postgres:// URL; pool_max_conns and the other pgxpool parameters
// apply), creates the store's tables if they are missing, and checks their
// schema version. If the database cannot be reached, the error wraps
// store.ErrUnavailable.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := parseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// parseConfig parses dsn and fills in what it leaves unset. The error never
// quotes dsn, which may hold a password.
func parseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("store/postgres: the database DSN cannot be parsed; check its syntax")
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}

// View runs fn in a read-only transaction on a snapshot consistent with a
// serial order of every Update (see the package documentation). Put and
// Delete inside fn fail. It returns fn's error unchanged.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadOnly, DeferrableMode: pgx.Deferrable}, fn)
}

// Update runs fn in a SERIALIZABLE transaction and commits it if fn returns
// nil. fn runs again when the transaction loses a serialization race. If fn
// fails or panics, or ctx ends before the commit, nothing is written; fn's
// (or ctx's) error is returned unchanged and a panic propagates.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}, fn)
}

// Ping checks that the database answers, for readiness probes, by running
// an empty View: it recovers from a restart as transactions do. Its error
// wraps store.ErrUnavailable when the database cannot be reached.
func (s *Store) Ping(ctx context.Context) error {
	return s.View(ctx, func(store.Tx) error { return nil })
}

// Close waits for borrowed connections to come back, then closes them all.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
