package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/kmsd/kmsd/internal/store"
)

// Retry limits. A serialization failure is retried after a pause drawn
// uniformly from [0, min(maxBackoff, minBackoff<<attempt)) ("full jitter"),
// which spreads out transactions that keep colliding on one row. A broken
// connection is retried at once, brokenRetries times, on a new connection:
// it fails fast if the server is really gone.
const (
	maxAttempts   = 40
	minBackoff    = time.Millisecond
	maxBackoff    = 100 * time.Millisecond
	brokenRetries = 1
)

// outcome is what one attempt of a transaction came to.
type outcome int

const (
	done     outcome = iota // committed, or failed for good: return err
	conflict                // lost a serialization race: back off and retry
	broken                  // the connection broke before the commit: retry
)

// run runs fn in a transaction with opts until it commits, fails for good,
// or runs out of attempts.
func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(store.Tx) error) error {
	var brokenSeen int
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := s.attempt(ctx, opts, fn)
		switch {
		case out == done:
			return err
		case out == broken && brokenSeen < brokenRetries:
			// A connection the server closed usually means it restarted
			// or failed over, and then every idle connection is dead too:
			// drop them all so that the retry connects afresh.
			s.pool.Reset()
			brokenSeen++
		case out == broken:
			return fmt.Errorf("store/postgres: %w", unavailable(err))
		case attempt+1 >= maxAttempts:
			return fmt.Errorf("store/postgres: %d attempts: %w (last: %w)", maxAttempts, store.ErrConflict, err)
		default:
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
	}
}

// attempt runs fn once in a new transaction on a pooled connection. A panic
// in fn rolls the transaction back and propagates.
func (s *Store) attempt(ctx context.Context, opts pgx.TxOptions, fn func(store.Tx) error) (outcome, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return done, classify(ctx, "connect", err)
	}
	// Release destroys a connection left closed or inside a transaction.
	defer conn.Release()
	ptx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return retryable(ctx, conn, err)
	}
	t := &tx{ctx: ctx, ptx: ptx, readOnly: opts.AccessMode == pgx.ReadOnly}
	committed := false
	defer func() {
		t.ended = true
		if !committed {
			rollback(ctx, ptx)
		}
	}()

	fnErr := fn(t)
	if ctx.Err() == nil {
		// A transaction that saw either can never commit, whatever fn
		// made of the failure.
		if t.conflict != nil {
			return conflict, t.conflict
		}
		if t.broken != nil {
			return broken, t.broken
		}
	}
	if fnErr != nil {
		return done, fnErr
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up and will be told the Update failed, so it
		// must not commit.
		return done, err
	}
	committed = true
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	err = ptx.Commit(endCtx)
	switch {
	case err == nil:
		return done, nil
	case isConflict(err):
		return conflict, err
	case errors.Is(err, pgx.ErrTxCommitRollback):
		// Only a statement error that fn swallowed aborts a transaction
		// without a conflict or a broken connection having been seen.
		return done, fmt.Errorf("store/postgres: commit rolled back after a failed statement: %w", err)
	case conn.Conn().IsClosed() || isUnavailable(err):
		return done, fmt.Errorf("store/postgres: commit outcome unknown: %w", unavailable(err))
	default:
		return done, fmt.Errorf("store/postgres: commit: %w", err)
	}
}

// retryable sorts out an error of BEGIN: nothing ran yet, so whatever broke
// can be retried.
func retryable(ctx context.Context, conn *pgxpool.Conn, err error) (outcome, error) {
	if ctx.Err() != nil {
		return done, ctx.Err()
	}
	if isConflict(err) {
		return conflict, err
	}
	if conn.Conn().IsClosed() || isUnavailable(err) {
		return broken, err
	}
	return done, fmt.Errorf("store/postgres: begin: %w", err)
}

// rollback ends a transaction that will not commit. If it fails, pgx closes
// the connection and the pool drops it, which ends the transaction too.
func rollback(ctx context.Context, ptx pgx.Tx) {
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	_ = ptx.Rollback(endCtx)
}

func backoff(attempt int) time.Duration {
	ceiling := maxBackoff
	if attempt < 10 && minBackoff<<attempt < maxBackoff {
		ceiling = minBackoff << attempt
	}
	return rand.N(ceiling) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
