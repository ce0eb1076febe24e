package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store"
)

var (
	errTxEnded    = errors.New("store/postgres: transaction used after it ended")
	errTxReadOnly = errors.New("store/postgres: write in a read-only transaction")
	errEmptyName  = errors.New("store/postgres: empty bucket name or key")
)

// tx adapts a pgx transaction to store.Tx. Its statements run under the
// context of the View or Update that made it.
type tx struct {
	ctx      context.Context
	ptx      pgx.Tx
	readOnly bool
	ended    bool
	// conflict and broken keep the first serialization failure and the
	// first broken connection seen, so that run retries the transaction
	// even if fn drops the error.
	conflict error
	broken   error
}

func (t *tx) Get(bucket, key []byte) ([]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	var v []byte
	err := t.ptx.QueryRow(t.ctx, "SELECT value FROM kmsd_kv WHERE bucket = $1 AND key = $2", bucket, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, t.fail("get from", bucket, err)
	}
	return v, nil // pgx copies bytea into a new slice
}

func (t *tx) Put(bucket, key, value []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	if len(bucket) == 0 || len(key) == 0 {
		return errEmptyName
	}
	if value == nil {
		value = []byte{} // pgx sends a nil slice as NULL
	}
	_, err := t.ptx.Exec(t.ctx, `INSERT INTO kmsd_kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`, bucket, key, value)
	if err != nil {
		return t.fail("put in", bucket, err)
	}
	return nil
}

func (t *tx) Delete(bucket, key []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	if _, err := t.ptx.Exec(t.ctx, "DELETE FROM kmsd_kv WHERE bucket = $1 AND key = $2", bucket, key); err != nil {
		return t.fail("delete in", bucket, err)
	}
	return nil
}

func (t *tx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	if t.ended {
		return nil, errTxEnded
	}
	sql, args := scanQuery(bucket, prefix, after, limit)
	rows, err := t.ptx.Query(t.ctx, sql, args...)
	if err != nil {
		return nil, t.fail("scan", bucket, err)
	}
	defer rows.Close()
	var out []store.KV
	for rows.Next() {
		var kv store.KV
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, t.fail("scan", bucket, err)
		}
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail("scan", bucket, err)
	}
	return out, nil
}

// scanQuery builds Scan's statement: keys in [start, end) of the bucket,
// where start is the prefix (inclusive) or after (exclusive) whichever sorts
// later, and end is the first key past every key with the prefix. Both
// bounds are ranges on the primary key's index.
func scanQuery(bucket, prefix, after []byte, limit int) (string, []any) {
	sql := "SELECT key, value FROM kmsd_kv WHERE bucket = $1"
	args := []any{bucket}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch {
	case len(after) > 0 && string(after) >= string(prefix):
		sql += " AND key > " + arg(after)
	case len(prefix) > 0:
		sql += " AND key >= " + arg(prefix)
	}
	if end := prefixEnd(prefix); end != nil {
		sql += " AND key < " + arg(end)
	}
	sql += " ORDER BY key"
	if limit > 0 {
		sql += " LIMIT " + arg(limit)
	}
	return sql, args
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil if there is none (an empty prefix, or only 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := append([]byte(nil), prefix[:i+1]...)
			end[i]++
			return end
		}
	}
	return nil
}

// Buckets returns the names of the buckets that hold records, in byte
// order. It is not part of store.Tx: only a tool that must visit every
// record (adopting a store into a new record format) needs it, and finds it
// by assertion. It skips from bucket to bucket on the primary key's index
// instead of reading every row.
func (t *tx) Buckets() ([][]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	rows, err := t.ptx.Query(t.ctx, `WITH RECURSIVE b(name) AS (
			(SELECT bucket FROM kmsd_kv ORDER BY bucket LIMIT 1)
			UNION ALL
			SELECT (SELECT bucket FROM kmsd_kv WHERE bucket > b.name ORDER BY bucket LIMIT 1)
			FROM b WHERE b.name IS NOT NULL
		) SELECT name FROM b WHERE name IS NOT NULL`)
	if err != nil {
		return nil, t.fail("list buckets", nil, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, t.fail("list buckets", nil, err)
	}
	return names, nil
}

func (t *tx) writable() error {
	if t.ended {
		return errTxEnded
	}
	if t.readOnly {
		return errTxReadOnly
	}
	return nil
}

// fail turns a statement's error into the one fn sees, and notes a conflict
// or a broken connection for run. Errors name the bucket, never a key or
// value.
func (t *tx) fail(op string, bucket []byte, err error) error {
	if bucket != nil {
		op = fmt.Sprintf("%s bucket %q", op, bucket)
	}
	if ctxErr := t.ctx.Err(); ctxErr != nil {
		return fmt.Errorf("store/postgres: %s: %w", op, ctxErr)
	}
	switch {
	case isConflict(err):
		if t.conflict == nil {
			t.conflict = err
		}
		return fmt.Errorf("store/postgres: %s: %w: %w", op, store.ErrConflict, err)
	case t.ptx.Conn().IsClosed() || isUnavailable(err):
		if t.broken == nil {
			t.broken = err
		}
		return fmt.Errorf("store/postgres: %s: %w", op, unavailable(err))
	default:
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
}
