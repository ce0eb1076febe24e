package postgres

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
	"github.com/kmsd/kmsd/internal/store/storetest"
)

// server is the PostgreSQL every test of the package uses, set by TestMain.
var server *pgtest.Server

// TestMain starts one throwaway cluster for the package (or takes the server
// in KMSD_TEST_POSTGRES) and stops it at the end. A missing PostgreSQL fails
// the package; it is never skipped.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	start := time.Now()
	s, err := pgtest.StartServer(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "PostgreSQL for the store tests: %v\n", err)
		os.Exit(1)
	}
	if s.Cluster != nil {
		fmt.Fprintf(os.Stderr, "started a throwaway PostgreSQL cluster in %v\n", time.Since(start).Round(time.Millisecond))
	}
	server = s
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stop PostgreSQL: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// budget bounds a test: it returns a context that ends after d, and crashes
// the test binary with every goroutine's stack if the test is still running
// well after that, so a hang names its test instead of eating the package's
// whole timeout.
func budget(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	name := t.Name()
	watchdog := time.AfterFunc(d+10*time.Second, func() {
		panic(fmt.Sprintf("%s still running %v after its budget of %v", name, 10*time.Second, d))
	})
	t.Cleanup(func() { watchdog.Stop(); cancel() })
	return ctx
}

// freshDSN returns a DSN on a new, empty schema that is dropped when t ends.
func freshDSN(t *testing.T, srv *pgtest.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dsn, drop, err := srv.NewSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	return dsn
}

// openTest opens a Store on dsn and closes it when t ends.
func openTest(t *testing.T, dsn string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	budget(t, 60*time.Second)
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		dsn := freshDSN(t, server)
		return func() (store.Store, error) { return Open(t.Context(), dsn) }
	})
}

// TestConformanceTwoNodes runs the whole suite with every transaction sent to
// one of two Stores on the same database in turn, as two kmsd nodes behind a
// load balancer would: the contract must hold across nodes, not only within
// one process.
func TestConformanceTwoNodes(t *testing.T) {
	budget(t, 60*time.Second)
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		dsn := freshDSN(t, server)
		return func() (store.Store, error) {
			var n twoNodes
			for i := range n.nodes {
				s, err := Open(t.Context(), dsn)
				if err != nil {
					n.Close()
					return nil, err
				}
				n.nodes[i] = s
			}
			return &n, nil
		}
	})
}

// twoNodes alternates transactions between two Stores.
type twoNodes struct {
	nodes [2]*Store
	next  atomic.Uint64
}

func (n *twoNodes) pick() *Store { return n.nodes[n.next.Add(1)%2] }

func (n *twoNodes) View(ctx context.Context, fn func(store.Tx) error) error {
	return n.pick().View(ctx, fn)
}

func (n *twoNodes) Update(ctx context.Context, fn func(store.Tx) error) error {
	return n.pick().Update(ctx, fn)
}

func (n *twoNodes) Close() error {
	for _, s := range n.nodes {
		if s != nil {
			_ = s.Close()
		}
	}
	return nil
}
