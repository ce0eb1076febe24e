package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/store/postgres"
)

// Default timing of a Lease.
const (
	DefaultAttempt      = 500 * time.Millisecond
	DefaultCheck        = 500 * time.Millisecond
	DefaultCheckTimeout = time.Second
)

// LeaseOptions tune a Lease; zero fields take the defaults.
type LeaseOptions struct {
	// Attempt is how often a node that does not lead tries to.
	Attempt time.Duration
	// Check is how often the leader makes sure its session lives, and
	// CheckTimeout how long it waits for the answer.
	Check, CheckTimeout time.Duration
	Logger              *slog.Logger
}

// Lease elects one leader among the nodes that run it on one store.
type Lease struct {
	st      *postgres.Store
	name    string
	node    string
	opt     LeaseOptions
	leading atomic.Bool
}

// NewLease returns the lease called name for the node named node.
func NewLease(st *postgres.Store, name, node string, opt LeaseOptions) *Lease {
	if opt.Attempt <= 0 {
		opt.Attempt = DefaultAttempt
	}
	if opt.Check <= 0 {
		opt.Check = DefaultCheck
	}
	if opt.CheckTimeout <= 0 {
		opt.CheckTimeout = DefaultCheckTimeout
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lease{st: st, name: name, node: node, opt: opt}
}

// Takeover is how long a new leader waits before it leads: longer than a
// leader that lost its session takes to notice and stop.
func (l *Lease) Takeover() time.Duration { return l.opt.Check + l.opt.CheckTimeout }

// Leading reports whether this node leads now.
func (l *Lease) Leading() bool { return l.leading.Load() }

// Run campaigns until ctx ends. Whenever this node holds the lease, lead
// runs with a context that ends when the lease is lost (or ctx ends); Run
// waits for lead to return before it campaigns again. It campaigns on one
// connection, made again only when it fails.
func (l *Lease) Run(ctx context.Context, lead func(context.Context)) {
	var sess *postgres.Session
	defer func() {
		if sess != nil {
			sess.Close()
		}
	}()
	for ctx.Err() == nil {
		var err error
		if sess == nil {
			sess, err = l.st.Session(ctx)
		}
		got := false
		if err == nil {
			if got, err = sess.TryLock(ctx, l.name); err != nil {
				sess.Close()
				sess = nil
			}
		}
		if err != nil && ctx.Err() == nil {
			l.opt.Logger.Debug("cluster: cannot campaign for the lease", "lease", l.name, "error", err)
		}
		if got {
			l.hold(ctx, sess, lead)
			// A fresh session for the next term: this one may still
			// hold the lock if only ctx ended.
			sess.Close()
			sess = nil
			continue
		}
		if !sleep(ctx, l.opt.Attempt) {
			return
		}
	}
}

// hold leads while sess, which holds the lease, lives.
func (l *Lease) hold(ctx context.Context, sess *postgres.Session, lead func(context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	started := false
	deadline := time.Now().Add(l.Takeover())
	for {
		if !started && !time.Now().Before(deadline) {
			started = true
			l.leading.Store(true)
			l.opt.Logger.Info("cluster: this node leads; background jobs run here", "lease", l.name, "node", l.node)
			go func() {
				defer close(done)
				lead(lctx)
			}()
		}
		if !sleep(ctx, l.opt.Check) {
			break
		}
		cctx, ccancel := context.WithTimeout(ctx, l.opt.CheckTimeout)
		err := sess.Check(cctx)
		ccancel()
		if err != nil {
			if ctx.Err() == nil {
				l.opt.Logger.Error("cluster: lost the lease; background jobs stop here", "lease", l.name, "node", l.node, "error", err)
			}
			break
		}
	}
	cancel()
	if started {
		<-done
		l.leading.Store(false)
		l.opt.Logger.Info("cluster: this node no longer leads", "lease", l.name, "node", l.node)
	}
}

// sleep waits d and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
