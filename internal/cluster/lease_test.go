package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store/postgres"
)

// leaders runs one Lease per node and records who leads when, failing the
// test if two lead functions ever run at once.
type leaders struct {
	t       *testing.T
	running atomic.Int32
	mu      sync.Mutex
	terms   []string // node names, in the order their terms began
	stops   map[string]context.CancelFunc
	leases  map[string]*Lease
	done    sync.WaitGroup
}

func (l *leaders) start(ctx context.Context, pg *postgres.Store, node string, opt LeaseOptions) {
	ctx, cancel := context.WithCancel(ctx)
	lease := NewLease(pg, "jobs", node, opt)
	l.mu.Lock()
	l.stops[node], l.leases[node] = cancel, lease
	l.mu.Unlock()
	l.done.Go(func() {
		lease.Run(ctx, func(lctx context.Context) {
			if n := l.running.Add(1); n != 1 {
				l.t.Errorf("%s leads while %d other lead functions run", node, n-1)
			}
			l.mu.Lock()
			l.terms = append(l.terms, node)
			l.mu.Unlock()
			<-lctx.Done()
			l.running.Add(-1)
		})
	})
}

func (l *leaders) current() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.terms) == 0 {
		return "", 0
	}
	return l.terms[len(l.terms)-1], len(l.terms)
}

// TestOneLeaderAndFailover: of three nodes exactly one leads. When the
// leader stops (its session ends) another takes over within Attempt plus
// Takeover; when the leader's session is killed on the server, it stops
// leading and another takes over; never do two lead at once.
func TestOneLeaderAndFailover(t *testing.T) {
	ctx := budget(t, 60*time.Second)
	dsn := freshDSN(t, server)
	opt := LeaseOptions{Attempt: 50 * time.Millisecond, Check: 50 * time.Millisecond, CheckTimeout: 200 * time.Millisecond}
	l := &leaders{t: t, stops: map[string]context.CancelFunc{}, leases: map[string]*Lease{}}
	for i := range 3 {
		l.start(ctx, openNode(t, dsn), fmt.Sprintf("node-%d", i), opt)
	}
	t.Cleanup(func() {
		for _, stop := range l.stops {
			stop()
		}
		l.done.Wait()
	})
	bound := opt.Attempt + opt.Check + opt.CheckTimeout + 2*time.Second // slack for a loaded machine
	if !waitFor(bound, func() bool { _, n := l.current(); return n == 1 }) {
		t.Fatal("no node leads")
	}
	first, _ := l.current()
	time.Sleep(300 * time.Millisecond)
	if _, n := l.current(); n != 1 {
		t.Fatalf("%d terms began with a leader in place", n)
	}
	count := 0
	for _, lease := range l.leases {
		if lease.Leading() {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d nodes report Leading", count)
	}

	// The leader stops: its session ends, and the lock with it.
	stopped := time.Now()
	l.stops[first]()
	if !waitFor(bound, func() bool { _, n := l.current(); return n == 2 }) {
		t.Fatal("nobody took over after the leader stopped")
	}
	second, _ := l.current()
	t.Logf("%s took over from %s %v after it stopped", second, first, time.Since(stopped))
	if second == first {
		t.Fatal("the stopped node leads again")
	}

	// The leader's session is killed on the server: it must notice and
	// stop before the third node leads.
	if err := terminate(ctx, postgres.LockApplication); err != nil {
		t.Fatal(err)
	}
	if !waitFor(bound, func() bool { _, n := l.current(); return n == 3 }) {
		t.Fatal("nobody leads after the leader's session was killed")
	}
	if got := l.running.Load(); got != 1 {
		t.Fatalf("%d lead functions run", got)
	}
}

// terminate ends every session of the given application name.
func terminate(ctx context.Context, app string) error {
	conn, err := pgx.Connect(ctx, server.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
	return err
}
