package memory

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/kmsd/kmsd/internal/store"
)

var (
	errClosed     = errors.New("store/memory: store is closed")
	errTxEnded    = errors.New("store/memory: transaction used after it ended")
	errTxReadOnly = errors.New("store/memory: write in a read-only transaction")
	errEmptyName  = errors.New("store/memory: empty bucket name or key")
)

// Store is a store.Store in memory. It is safe for concurrent use.
type Store struct {
	snap   atomic.Pointer[snapshot]
	writer chan struct{} // a one-slot semaphore: the single writer
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	s := &Store{writer: make(chan struct{}, 1)}
	s.snap.Store(&snapshot{buckets: map[string]bucket{}})
	return s
}

// View runs fn on the snapshot committed when it starts. Put and Delete
// inside fn fail. It returns fn's error unchanged.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	t := &tx{base: s.snap.Load()}
	defer t.end()
	return fn(t)
}

// Update runs fn on a private copy of the committed state and publishes
// its writes if fn returns nil and ctx has not ended. Updates run one at a
// time, so fn runs exactly once; a panic in fn propagates and writes
// nothing.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writer }()
	if s.closed.Load() {
		return errClosed
	}
	t := &tx{base: s.snap.Load(), writes: map[string]map[string][]byte{}, writable: true}
	defer t.end()
	if err := fn(t); err != nil {
		return err
	}
	// Don't commit work whose caller has given up: it would be told the
	// Update failed.
	if err := ctx.Err(); err != nil {
		return err
	}
	s.snap.Store(t.base.apply(t.writes))
	return nil
}

// Close forgets the data. Transactions started later fail; closing twice
// is harmless.
func (s *Store) Close() error {
	s.writer <- struct{}{} // let a running Update finish first
	defer func() { <-s.writer }()
	s.closed.Store(true)
	s.snap.Store(&snapshot{buckets: map[string]bucket{}})
	return nil
}
