package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/postgres"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// fakeCache is a cache of the records of bucket "cached": entry "e|key".
type fakeCache struct {
	mu      sync.Mutex
	dropped []string
	flushes int
	fresh   func() bool
}

func cachedKeysOf(bucket, key []byte) []string {
	if string(bucket) != "cached" {
		return nil
	}
	return []string{"e|" + string(key)}
}

func (c *fakeCache) InvalidateCache(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropped = append(c.dropped, keys...)
}

func (c *fakeCache) FlushCache() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes++
}

func (c *fakeCache) GateCache(fresh func() bool) { c.fresh = fresh }

func (c *fakeCache) state() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.dropped...), c.flushes
}

// node is one kmsd node of a test: its store and notifier with a cache.
type node struct {
	st    *Store
	cache *fakeCache
	n     *Notifier
}

func startNode(t *testing.T, ctx context.Context, pg *postgres.Store, opt NotifierOptions) *node {
	t.Helper()
	c := &fakeCache{}
	nd := &node{st: NewStore(pg, Layouts{"fake": cachedKeysOf}), cache: c}
	nd.n = NewNotifier(pg, Caches{"fake": c}, opt)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); nd.n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if !waitFor(10*time.Second, nd.n.Fresh) {
		t.Fatalf("the notifier did not start listening: %v", nd.n.Health())
	}
	return nd
}

func put(ctx context.Context, s store.Store, bucket, key string, fail error) error {
	return s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put([]byte(bucket), []byte(key), []byte("v")); err != nil {
			return err
		}
		return fail
	})
}

// TestWriteOnOneNodeInvalidatesTheOthers: a committed write of a cached
// record drops its entry on every node, the writer's too; a write that
// rolled back, or one of records no cache holds, sends nothing.
func TestWriteOnOneNodeInvalidatesTheOthers(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a := startNode(t, ctx, openNode(t, dsn), NotifierOptions{})
	b := startNode(t, ctx, openNode(t, dsn), NotifierOptions{})

	boom := errors.New("boom")
	if err := put(ctx, a.st, "cached", "rolled-back", boom); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := put(ctx, a.st, "uncached", "x", nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := put(ctx, a.st, "cached", "k1", nil); err != nil {
		t.Fatal(err)
	}
	for _, nd := range []*node{a, b} {
		if !waitFor(5*time.Second, func() bool { d, _ := nd.cache.state(); return len(d) > 0 }) {
			t.Fatal("no invalidation arrived within 5s")
		}
	}
	t.Logf("invalidation reached the other node %v after the commit returned", time.Since(start))
	if err := b.n.Health(); err != nil {
		t.Fatal(err)
	}
	// The notifications arrive in commit order; the first is k1's.
	for name, nd := range map[string]*node{"writer": a, "other": b} {
		if d, _ := nd.cache.state(); d[0] != "e|k1" {
			t.Errorf("%s dropped %q first, want e|k1 (never the rolled-back write or an uncached record)", name, d)
		}
	}
	if b.n.Applied() == 0 {
		t.Error("Applied() = 0 after a notification")
	}
}

// TestLargeTransactionFlushes: a transaction that stales more entries than
// a notification can name flushes every node's caches.
func TestLargeTransactionFlushes(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a := startNode(t, ctx, openNode(t, dsn), NotifierOptions{})
	b := startNode(t, ctx, openNode(t, dsn), NotifierOptions{})
	_, before := b.cache.state()
	err := a.st.Update(ctx, func(tx store.Tx) error {
		for i := range 500 {
			if err := tx.Put([]byte("cached"), []byte(fmt.Sprintf("key-%04d-%s", i, strings.Repeat("x", 20))), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { _, f := b.cache.state(); return f > before }) {
		t.Fatal("a transaction too large to name its entries did not flush the other node")
	}
}

// TestGateFollowsTheConnection stops PostgreSQL under a listening node: the
// gate shuts within the window and the caches are flushed; readiness says
// why. When PostgreSQL is back the node listens again by itself, flushes
// once more (it missed notifications meanwhile) and opens the gate.
func TestGateFollowsTheConnection(t *testing.T) {
	ctx := budget(t, 60*time.Second)
	srv := server
	if srv.Cluster == nil {
		c, err := pgtest.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		srv = &pgtest.Server{DSN: c.DSN("postgres"), Cluster: c}
	}
	dsn := freshDSN(t, srv)
	t.Cleanup(func() { _ = srv.Cluster.Start(context.Background()) })
	opt := NotifierOptions{Heartbeat: 50 * time.Millisecond, Window: 300 * time.Millisecond, Retry: 50 * time.Millisecond}
	b := startNode(t, ctx, openNode(t, dsn), opt)
	if b.cache.fresh == nil || !b.cache.fresh() {
		t.Fatal("the notifier did not gate the cache, or left it shut while listening")
	}
	_, flushes := b.cache.state()

	if err := srv.Cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if !waitFor(opt.Window+time.Second, func() bool { return !b.n.Fresh() }) {
		t.Fatal("the gate stayed open with PostgreSQL down")
	}
	t.Logf("gate shut %v after PostgreSQL stopped (window %v)", time.Since(stopped), opt.Window)
	if !waitFor(2*time.Second, func() bool { _, f := b.cache.state(); return f > flushes }) {
		t.Fatal("the caches were not flushed when the connection was lost")
	}
	if err := b.n.Health(); err == nil || !strings.Contains(err.Error(), "cache invalidation") {
		t.Fatalf("Health with PostgreSQL down = %v", err)
	}

	// Counted before the restart: the node may listen again, and flush,
	// before Start even returns.
	_, flushes = b.cache.state()
	if err := srv.Cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, b.n.Fresh) {
		t.Fatalf("the node did not listen again after PostgreSQL came back: %v", b.n.Health())
	}
	if _, f := b.cache.state(); f <= flushes {
		t.Fatal("the caches were not flushed when listening resumed")
	}
	if err := b.n.Health(); err != nil {
		t.Fatal(err)
	}
	// And it hears writes again.
	a := startNode(t, ctx, openNode(t, dsn), opt)
	if err := put(ctx, a.st, "cached", "after", nil); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { d, _ := b.cache.state(); return slices.Contains(d, "e|after") }) {
		t.Fatal("no invalidation after the restart")
	}
}

// TestGateShutsWhenProofsStop: a node whose listening session is ended on
// the server, with PostgreSQL still up, stops serving from its caches
// within the window and stays shut while it does not listen.
func TestGateShutsWhenProofsStop(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	opt := NotifierOptions{Heartbeat: 50 * time.Millisecond, Window: 300 * time.Millisecond, Retry: time.Hour}
	b := startNode(t, ctx, openNode(t, dsn), opt)
	killed := time.Now()
	if err := terminateListeners(ctx, server); err != nil {
		t.Fatal(err)
	}
	if !waitFor(opt.Window+2*time.Second, func() bool { return !b.n.Fresh() }) {
		t.Fatal("the gate stayed open after the listening session ended")
	}
	if since := time.Since(killed); since > opt.Window+time.Second {
		t.Errorf("the gate shut %v after the session ended, window %v", since, opt.Window)
	}
}

// terminateListeners ends every listening session, on the server.
func terminateListeners(ctx context.Context, srv *pgtest.Server) error {
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", postgres.ListenerApplication)
	return err
}

// TestGateShutsWhenTheConnectionStalls freezes the server process of a
// node's listening session (SIGSTOP): the connection stays open but
// delivers nothing, as behind a silent network partition. The node must
// stop serving from its caches within the window of its last proof, then
// listen on a new session and flush what it cached before.
func TestGateShutsWhenTheConnectionStalls(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	srv := server
	if srv.Cluster == nil { // a server elsewhere: its processes are out of reach
		c, err := pgtest.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		srv = &pgtest.Server{DSN: c.DSN("postgres"), Cluster: c}
	}
	dsn := freshDSN(t, srv)
	opt := NotifierOptions{Heartbeat: 50 * time.Millisecond, Window: 300 * time.Millisecond, Retry: 50 * time.Millisecond}
	b := startNode(t, ctx, openNode(t, dsn), opt)
	pid, err := listenerPID(ctx, srv)
	if err != nil {
		t.Fatal(err)
	}
	_, flushes := b.cache.state()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if !waitFor(opt.Window+2*time.Second, func() bool { return !b.n.Fresh() }) {
		t.Fatal("the gate stayed open while the listening session delivered nothing")
	}
	shut := time.Since(frozen)
	t.Logf("gate shut %v after the listening session froze (window %v)", shut, opt.Window)
	if shut > opt.Window+200*time.Millisecond {
		t.Errorf("the gate shut %v after the session froze, more than the window %v", shut, opt.Window)
	}
	if !waitFor(5*time.Second, b.n.Fresh) {
		t.Fatalf("the node did not listen again on a new session: %v", b.n.Health())
	}
	if _, f := b.cache.state(); f <= flushes {
		t.Fatal("the caches were not flushed after the stall")
	}
}

// listenerPID returns the server process of the newest listening session
// (those of earlier tests' nodes may not have exited yet).
func listenerPID(ctx context.Context, srv *pgtest.Server) (int, error) {
	conn, err := pgx.Connect(ctx, srv.DSN)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var pid int
	err = conn.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY backend_start DESC LIMIT 1",
		postgres.ListenerApplication).Scan(&pid)
	return pid, err
}
