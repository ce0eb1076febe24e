package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kmsd/kmsd/internal/cluster"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/jobs"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/metrics"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/postgres"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// A node of a cluster: any number of kmsd serve processes on one
// PostgreSQL store (--store postgres://…), each with its own data
// directory holding a copy of the cluster's root keyring (root.key), its
// node id (node-id) and its own audit log.

// jobsLease is the lease whose holder runs the background jobs.
const jobsLease = "jobs"

// clusterLayouts says which records each cache of a node holds; the
// names travel between nodes.
func clusterLayouts() cluster.Layouts {
	return cluster.Layouts{"kms": kms.CacheKeysOf, "iam": identity.CacheKeysOf}
}

// shared is a node's part in a cluster.
type shared struct {
	pg       *postgres.Store
	node     string
	mx       *metrics.Metrics
	notifier *cluster.Notifier // set by attach, for serving nodes
	lease    *cluster.Lease
}

// nodeName is the node id, "" outside a cluster.
func (sh *shared) nodeName() string {
	if sh == nil {
		return ""
	}
	return sh.node
}

// openShared opens the PostgreSQL store cfg.Store names, with the root
// keyring at keyPath, as a node of a cluster. Like openStore it makes a
// keyring only for a store without records, and refuses a keyring that is
// not the one that sealed the store, saying how nodes share it.
func openShared(cfg Config, keyPath string, log *slog.Logger) (*sealed.Store, *seal.FileSeal, *shared, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := resolveNodeID(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, nil, nil, err
	}
	pg, err := postgres.Open(ctx, cfg.Store)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open the PostgreSQL store: %w", err)
	}
	// Two processes with one node id would write one audit anchor.
	running, err := pg.Session(ctx)
	if err == nil {
		var ok bool
		if ok, err = running.TryLock(ctx, "node/"+node); err == nil && !ok {
			err = fmt.Errorf("node %s (recorded in %s) is already running on this store: give each node its own data directory and node id", node, filepath.Join(cfg.DataDir, nodeIDFile))
		}
		if err != nil {
			running.Close()
		}
	}
	if err != nil {
		pg.Close()
		return nil, nil, nil, err
	}
	cs := nodeStore{cluster.NewStore(pg, clusterLayouts()), running}
	created := false
	sl, err := seal.Open(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err = sealed.CanCreateKeyring(ctx, cs, keyPath); err == nil {
			sl, err = seal.Create(keyPath)
			created = err == nil
		}
	}
	var ss *sealed.Store
	if err == nil {
		ss, err = sealed.Open(ctx, cs, sealed.Config{Keyring: sl, KeyringPath: keyPath, Probe: probeSealed(sl), Logger: log})
	}
	if err == nil {
		if err = prepareStore(ctx, ss, redactDSN(cfg.Store), log); err != nil {
			ss.Close()
			return nil, nil, nil, err
		}
	}
	if err != nil {
		cs.Close()
		if created {
			// Made for this start, and refused: another node won the race
			// to the empty store. Leave room for the copy the message asks for.
			_ = os.Remove(keyPath)
		}
		var ke *sealed.KeyringError
		if errors.As(err, &ke) {
			err = fmt.Errorf("%w. Every node of a cluster holds the same root keyring: copy root.key from the data directory of the node that created it into %s (mode 0600)", err, filepath.Dir(keyPath))
		}
		return nil, nil, nil, fmt.Errorf("open the PostgreSQL store: %w", err)
	}
	return ss, sl, &shared{pg: pg, node: node}, nil
}

// nodeStore is the shared store as one node holds it: closing it also
// ends the session that marks the node id as running.
type nodeStore struct {
	*cluster.Store
	running *postgres.Session
}

func (s nodeStore) Close() error {
	s.running.Close()
	return s.Store.Close()
}

// attach gates the node's caches on the cache invalidation channel and
// prepares the jobs lease; mx (may be nil) hears of leadership.
func (sh *shared) attach(n *node, mx *metrics.Metrics, log *slog.Logger) {
	sh.mx = mx
	sh.notifier = cluster.NewNotifier(sh.pg, cluster.Caches{"kms": n.svc, "iam": n.ids}, cluster.NotifierOptions{Logger: log})
	sh.lease = cluster.NewLease(sh.pg, jobsLease, sh.node, cluster.LeaseOptions{Logger: log})
	mx.SetLeader(false)
}

// ready is the node's readiness: its audit log, and in a cluster its
// connection to PostgreSQL (no proof of hearing every write, no caches).
func (n *node) ready() error {
	err := n.audit.Health()
	if n.shared != nil && n.shared.notifier != nil {
		err = errors.Join(err, n.shared.notifier.Health())
	}
	return err
}

// recoverSharedOutbox drops, at start, the outbox entries whose record
// this node's log already holds. It ships nothing: the rest may be other
// nodes' requests in flight; the leader ships what outlives the grace.
func recoverSharedOutbox(ctx context.Context, n *node, cfg Config, log *slog.Logger) error {
	path := nodeAuditPath(cfg.DataDir)
	dropped, err := n.outbox.DropDelivered(ctx, func(ids map[string]bool, since time.Time) error {
		return outbox.FindInLog(path, ids, since)
	})
	if err != nil {
		log.Error("audit outbox: could not look for this node's delivered records; the leader ships what remains after the grace period", "error", err)
	} else if dropped > 0 {
		log.Info("audit outbox: dropped entries this node had delivered before it stopped", "records", dropped)
	}
	return nil
}

// startSharedJobs runs a cluster node's background work until ctx ends:
// the cache invalidation listener, the deletion of its delivered outbox
// entries and the flush of its own key usage on every node, and the jobs
// on the one node that holds the lease.
func (in *instance) startSharedJobs(ctx context.Context, cfg Config, log *slog.Logger) {
	n, sh := in.n, in.n.shared
	jobCtx, stop := context.WithCancel(ctx)
	in.stopJobs = stop
	in.shipDone, in.jobsDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(in.shipDone)
		t := time.NewTicker(outboxInterval)
		defer t.Stop()
		for {
			select {
			case <-jobCtx.Done():
				return
			case <-t.C:
			}
			if err := n.outbox.Flush(jobCtx); err != nil && jobCtx.Err() == nil {
				log.Error("audit outbox: delete delivered entries", "error", err)
			}
		}
	}()
	leaderTasks := []jobs.Task{
		{Name: "scheduled-deletion", Run: n.svc.DeletionJob(n.outbox)},
		{Name: "key-rotation", Run: n.svc.RotationJob(n.outbox)},
		{Name: "imported-material-expiry", Run: n.svc.ImportExpiryJob(n.outbox)},
		{Name: "expired-sessions", Run: n.ids.PruneSessions},
		// Every node's runs of key uses, merged by one.
		{Name: "key-use-runs", Run: n.svc.MergeKeyUseRuns, Due: n.svc.KeyUseMergeDue()},
		{Name: "stranded-audit-records", Run: func(ctx context.Context) (int, error) {
			return n.outbox.ShipOlder(ctx, time.Now().Add(-cfg.OutboxGrace))
		}},
	}
	done := make(chan struct{}, 3)
	go func() { defer func() { done <- struct{}{} }(); sh.notifier.Run(jobCtx) }()
	go func() {
		defer func() { done <- struct{}{} }()
		// Each node records the uses of keys it served in memory.
		(&jobs.Runner{Interval: cfg.JobsInterval, Logger: log, Tasks: []jobs.Task{
			{Name: "key-last-usage", Run: n.svc.FlushLastUsage, Due: n.svc.LastUsageDue()},
		}}).Run(jobCtx)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		sh.lease.Run(jobCtx, func(lctx context.Context) {
			sh.setLeader(true)
			defer sh.setLeader(false)
			(&jobs.Runner{Interval: cfg.JobsInterval, Logger: log, Tasks: leaderTasks}).Run(lctx)
		})
	}()
	go func() {
		for range 3 {
			<-done
		}
		close(in.jobsDone)
	}()
}

func (sh *shared) setLeader(leading bool) { sh.mx.SetLeader(leading) }
