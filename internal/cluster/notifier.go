package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/store/postgres"
)

// Default timing of a Notifier.
const (
	DefaultHeartbeat = 250 * time.Millisecond
	DefaultWindow    = time.Second
	DefaultRetry     = 250 * time.Millisecond
)

// NotifierOptions tune a Notifier; zero fields take the defaults.
type NotifierOptions struct {
	// Heartbeat is how often the listening connection proves it delivers.
	Heartbeat time.Duration
	// Window is how long after a proof the caches may serve: the bound on
	// how long a node serves a committed change stale when its connection
	// dies silently. It must exceed Heartbeat.
	Window time.Duration
	// Retry is the pause between attempts to listen again.
	Retry  time.Duration
	Logger *slog.Logger
}

// Notifier keeps a node's caches coherent with the writes of every node.
type Notifier struct {
	st     *postgres.Store
	caches Caches
	opt    NotifierOptions
	base   time.Time     // origin of the monotonic readings below
	until  atomic.Int64  // caches may serve until base + until
	events atomic.Uint64 // notifications applied, for tests and metrics

	mu        sync.Mutex
	down      error // why the node does not listen, nil while it does
	downSince time.Time
}

// NewNotifier returns a Notifier for caches, gated shut until Run first
// listens.
func NewNotifier(st *postgres.Store, caches Caches, opt NotifierOptions) *Notifier {
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = DefaultHeartbeat
	}
	if opt.Window <= opt.Heartbeat {
		opt.Window = max(DefaultWindow, 4*opt.Heartbeat)
	}
	if opt.Retry <= 0 {
		opt.Retry = DefaultRetry
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{st: st, caches: caches, opt: opt, base: time.Now(),
		down: errors.New("not listening yet"), downSince: time.Now()}
	for _, c := range caches {
		c.GateCache(n.Fresh)
	}
	return n
}

// Window returns the staleness bound the Notifier enforces.
func (n *Notifier) Window() time.Duration { return n.opt.Window }

// Fresh reports whether the caches may serve: the connection proved, less
// than Window ago, that it delivers every notification. It costs a clock
// reading and an atomic load.
func (n *Notifier) Fresh() bool {
	return time.Since(n.base) < time.Duration(n.until.Load())
}

// Applied counts the notifications applied so far.
func (n *Notifier) Applied() uint64 { return n.events.Load() }

// Health is nil while the caches may serve, and otherwise says why not,
// for the readiness probe.
func (n *Notifier) Health() error {
	if n.Fresh() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down == nil {
		return errors.New("cache invalidation: no proof from PostgreSQL within the staleness window")
	}
	return fmt.Errorf("cache invalidation: not listening to PostgreSQL since %s: %w", n.downSince.UTC().Format(time.RFC3339), n.down)
}

// Run listens until ctx ends, listening again after every loss.
func (n *Notifier) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		n.lost(err)
		t := time.NewTimer(n.opt.Retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listen runs one listening session until it fails or ctx ends.
func (n *Notifier) listen(ctx context.Context) error {
	l, err := n.st.Listen(ctx, channel, n.apply)
	if err != nil {
		return err
	}
	defer l.Close()
	// Entries cached before now may predate notifications this node missed
	// while it was not listening; from here on it hears of every write.
	n.caches.flush()
	for {
		start := time.Since(n.base)
		pctx, cancel := context.WithTimeout(ctx, n.opt.Window)
		err := l.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
		n.until.Store(int64(start + n.opt.Window))
		n.up()
		wctx, cancel := context.WithTimeout(ctx, n.opt.Heartbeat)
		err = l.Wait(wctx)
		cancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (n *Notifier) apply(payload string) {
	n.caches.apply(payload)
	n.events.Add(1)
}

func (n *Notifier) up() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down != nil {
		n.opt.Logger.Info("cluster: listening for cache invalidations; caches serve again")
		n.down = nil
	}
}

// lost shuts the gate and empties the caches: without the connection this
// node cannot learn of other nodes' writes.
func (n *Notifier) lost(err error) {
	n.until.Store(0)
	n.caches.flush()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down == nil {
		n.opt.Logger.Error("cluster: lost the cache invalidation connection to PostgreSQL; caches bypassed until it is back", "error", err)
		n.down, n.downSince = err, time.Now()
	} else {
		n.down = err
	}
}
