// Package store is kmsd's persistence contract: ordered buckets of keys and
// values with serializable transactions. Backends (bbolt embedded, PostgreSQL)
// live in sub-packages and all pass the storetest conformance suite.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Tx.Get for a key that does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned by a backend when a transaction lost a
// serialization race; Update retries such transactions itself, so callers
// see it only when retries are exhausted.
var ErrConflict = errors.New("store: transaction conflict")

// ErrUnavailable is wrapped by a backend's errors when its database cannot
// be reached or refuses service for now (down, restarting, failing over); the
// caller may retry later. It is a dependency failure, not a bad request.
var ErrUnavailable = errors.New("store: database unavailable")

// KV is one key and its value, as returned by Scan.
type KV struct {
	Key   []byte
	Value []byte
}

// Store runs transactions. Update's fn may run more than once (retried on
// conflict) and must not have side effects outside the Tx until Update
// returns nil. Returning an error from fn rolls the transaction back and
// Update returns that error unchanged.
type Store interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Tx reads and writes inside one transaction. Slices returned by Get and Scan
// belong to the caller and stay valid after the transaction ends; Put keeps
// no reference to the slices it is given. Buckets
// spring into existence on first Put; reading a bucket that was never written
// is not an error (Get gives ErrNotFound, Scan gives nothing).
type Tx interface {
	Get(bucket, key []byte) ([]byte, error)
	Put(bucket, key, value []byte) error
	Delete(bucket, key []byte) error
	// Scan returns up to limit pairs whose key starts with prefix and sorts
	// strictly after `after` (nil: from the start of the prefix), in
	// ascending byte order. limit <= 0 means no limit.
	Scan(bucket, prefix, after []byte, limit int) ([]KV, error)
}

// Lender is a Tx that can return a value without copying it.
type Lender interface {
	// Lend is Get whose value is the store's own memory (for bbolt, the
	// mapped file): it is valid only until the transaction ends or next
	// changes anything, and must be neither changed nor kept.
	Lend(bucket, key []byte) ([]byte, error)
}

// Lend is tx's Lend when it has one, else its Get. A reader that decodes
// a value at once, into memory of its own, spares the copy.
func Lend(tx Tx, bucket, key []byte) ([]byte, error) {
	if l, ok := tx.(Lender); ok {
		return l.Lend(bucket, key)
	}
	return tx.Get(bucket, key)
}

// Checker is a Tx that can tell whether a key is present without reading
// (for an encrypting store, without decrypting) its value.
type Checker interface {
	Has(bucket, key []byte) (bool, error)
}

// Has reports whether bucket holds key, through tx's Has when it has one,
// else by reading the value.
func Has(tx Tx, bucket, key []byte) (bool, error) {
	if c, ok := tx.(Checker); ok {
		return c.Has(bucket, key)
	}
	_, err := Lend(tx, bucket, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
