package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store/postgres"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// server is the PostgreSQL every test of the package uses, set by TestMain.
var server *pgtest.Server

// TestMain starts one throwaway cluster for the package (or takes the server
// in KMSD_TEST_POSTGRES). A missing PostgreSQL fails the package.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := pgtest.StartServer(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "PostgreSQL for the cluster tests: %v\n", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stop PostgreSQL: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// budget bounds a test with a context that ends after d.
func budget(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// freshDSN returns a DSN on a new, empty schema of srv, dropped when t ends.
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

// openNode opens a Store on dsn, as one node does, closed when t ends.
func openNode(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitFor polls cond every 5ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
