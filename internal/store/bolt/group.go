package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kmsd/kmsd/internal/boltmap"
	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// maxGroup bounds the Updates committed by one bbolt transaction, so one
// commit's dirty pages (and the wait of its first caller) stay bounded.
const maxGroup = 512

// group commits concurrent Updates together: one bbolt transaction and one
// fsync for every Update that arrived while the previous commit was being
// fsynced. Unlike bbolt's DB.Batch, each fn runs exactly once: fns run one
// after another in the shared transaction, each with an undo log, and a fn
// that fails (or panics, or whose ctx ends) has its writes undone before
// the next one runs, so the others commit as if it had never run; a fn
// alone in its transaction has no log, and its failure rolls the
// transaction back. Each
// caller returns only after the transaction holding its writes is fsynced,
// so durability is what one transaction per Update gave.
//
// There is no committer goroutine: the first caller to find no commit
// running leads. It takes the queue, commits it, and hands the lead to the
// first caller that queued meanwhile, so no caller commits more than one
// batch besides its own.
type group struct {
	db *bbolt.DB

	mu      sync.Mutex
	queue   []*update
	leading bool

	commits, updates atomic.Uint64 // transactions committed, Updates in them

	// mapped keeps the file's pages mapped (boltmap).
	mapped *boltmap.Mapper
}

// update is one caller's Update waiting in the group.
type update struct {
	ctx context.Context
	fn  func(store.Tx) error
	// wake receives true when the caller must lead the next commit, false
	// when its Update is done and err (or panicked) is set.
	wake     chan bool
	err      error
	fnFailed bool // err came from fn or ctx, and is returned unchanged
	panicked bool
	pv       any
}

func (g *group) update(ctx context.Context, fn func(store.Tx) error) error {
	u := &update{ctx: ctx, fn: fn, wake: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, u)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if lead {
		g.lead()
	}
	for <-u.wake {
		g.lead()
	}
	if u.panicked {
		panic(u.pv)
	}
	return u.err
}

// lead commits the queued Updates, then passes the lead on.
func (g *group) lead() {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	committed := g.commit(batch)

	g.mu.Lock()
	var next *update
	if len(g.queue) > 0 {
		next = g.queue[0]
	} else {
		g.leading = false
		g.queue = nil
	}
	g.mu.Unlock()
	for _, u := range batch {
		u.wake <- false
	}
	if next != nil {
		next.wake <- true
	}
	// After the callers are answered: their Updates are durable already.
	if committed {
		g.mapped.Committed(g.db)
	}
}

// errNothingToCommit rolls back a transaction in which every fn failed.
var errNothingToCommit = errors.New("nothing to commit")

// commit runs batch's fns in one transaction and commits the writes of
// those that succeeded, and reports whether it committed. A fn alone in
// its transaction needs no undo log: if it fails, the transaction is
// rolled back.
func (g *group) commit(batch []*update) bool {
	alone := len(batch) == 1
	err := g.db.Update(func(btx *bbolt.Tx) error {
		kept := 0
		for _, u := range batch {
			if g.run(btx, u, !alone) {
				kept++
			}
		}
		if kept == 0 {
			return errNothingToCommit
		}
		return nil
	})
	if err == nil {
		g.commits.Add(1)
		g.updates.Add(uint64(len(batch)))
		return true
	}
	if errors.Is(err, errNothingToCommit) {
		return false
	}
	for _, u := range batch {
		if !u.fnFailed && !u.panicked {
			u.err = fmt.Errorf("store/bolt: update: %w", err)
		}
	}
	return false
}

// run runs one fn in btx and reports whether its writes are kept; with
// undo, a fn that fails has them undone.
func (g *group) run(btx *bbolt.Tx, u *update, undo bool) (kept bool) {
	t := &tx{btx: btx}
	if undo {
		t.undo = &undoLog{}
	}
	defer func() {
		t.end()
		if r := recover(); r != nil {
			u.panicked, u.pv = true, r
		}
		if !kept && t.undo != nil {
			t.undo.rollback(btx)
		}
	}()
	if u.err = u.ctx.Err(); u.err != nil {
		u.fnFailed = true
		return false
	}
	if u.err = u.fn(t); u.err != nil {
		u.fnFailed = true
		return false
	}
	// Don't commit work whose caller has given up: it would be told the
	// Update failed.
	if u.err = u.ctx.Err(); u.err != nil {
		u.fnFailed = true
		return false
	}
	return true
}

// undoLog records what one fn's writes replaced, to take them back.
type undoLog struct {
	steps   []undoStep
	created [][]byte // buckets the fn's first Put created
}

type undoStep struct {
	bucket, key []byte
	prev        []byte // nil: the key was absent
}

// saw records the value of key in b (nil: none) before a write.
func (l *undoLog) saw(bucket []byte, b *bbolt.Bucket, key []byte) {
	var prev []byte
	if b != nil {
		if v := b.Get(key); v != nil {
			prev = clone(v)
		}
	}
	l.steps = append(l.steps, undoStep{bucket: clone(bucket), key: clone(key), prev: prev})
}

// rollback restores every value the fn replaced, newest first, and drops
// the buckets it created. It runs inside the writable transaction, whose
// Put and Delete fail only on misuse, so a failure here panics rather than
// commit half a fn.
func (l *undoLog) rollback(btx *bbolt.Tx) {
	for i := len(l.steps) - 1; i >= 0; i-- {
		s := l.steps[i]
		b := btx.Bucket(s.bucket)
		if b == nil {
			continue // created by this fn and dropped below
		}
		var err error
		if s.prev == nil {
			err = b.Delete(s.key)
		} else {
			err = b.Put(s.key, s.prev)
		}
		if err != nil {
			panic(fmt.Sprintf("store/bolt: undo a failed update: %v", err))
		}
	}
	for _, name := range l.created {
		if err := btx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			panic(fmt.Sprintf("store/bolt: undo a failed update: %v", err))
		}
	}
	l.steps, l.created = nil, nil
}
