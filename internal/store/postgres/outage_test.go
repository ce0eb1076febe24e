package postgres

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// failFast is how long an operation on an unreachable database may take to
// fail: a refused or missing socket fails at once.
const failFast = 3 * time.Second

// restartable returns a server the test may stop and start: the package's
// cluster, or a cluster of its own when the package was given a server it
// does not control.
func restartable(t *testing.T, ctx context.Context) *pgtest.Server {
	t.Helper()
	if server.Cluster != nil {
		return server
	}
	c, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &pgtest.Server{DSN: c.DSN("postgres"), Cluster: c}
}

// TestRestart stops PostgreSQL under a Store that is in use and starts it
// again: while it is down every operation fails fast with
// store.ErrUnavailable, and once it is back the same Store works again,
// without being reopened, with nothing lost and nothing half-applied.
func TestRestart(t *testing.T) {
	ctx := budget(t, 60*time.Second)
	srv := restartable(t, ctx)
	dsn := freshDSN(t, srv)
	s := openTest(t, dsn)
	// Runs before freshDSN's cleanup drops the schema.
	t.Cleanup(func() {
		if err := srv.Cluster.Start(context.Background()); err != nil && !strings.Contains(err.Error(), "already running") {
			t.Errorf("restart PostgreSQL after the test: %v", err)
		}
	})

	put := func(ctx context.Context, key string, v uint64) error {
		return s.Update(ctx, func(tx store.Tx) error {
			return tx.Put([]byte("b"), []byte(key), counterValue(v))
		})
	}
	if err := put(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}

	// Writers keep incrementing a counter across the restart. Every error
	// they see must be ErrUnavailable.
	stop := make(chan struct{})
	var mu sync.Mutex
	var acked, failed int
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	// acks has a token after a writer's Update was acknowledged.
	acks := make(chan struct{}, 1)
	// awaitAck waits for a writer's Update acknowledged after it is called.
	awaitAck := func(when string) {
		t.Helper()
		select {
		case <-acks: // from before the call
		default:
		}
		select {
		case <-acks:
		case <-ctx.Done():
			t.Fatalf("no writer's Update was acknowledged %s: %v", when, ctx.Err())
		}
	}
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Update(ctx, func(tx store.Tx) error {
					n, err := readCounter(tx, "counter")
					if err != nil {
						return err
					}
					return tx.Put([]byte("b"), []byte("counter"), counterValue(n+1))
				})
				mu.Lock()
				if err == nil {
					acked++
				} else {
					failed++
				}
				mu.Unlock()
				if err == nil {
					select {
					case acks <- struct{}{}:
					default:
					}
				}
				if err != nil && !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("Update during the restart: %v, want ErrUnavailable", err)
					return
				}
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	awaitAck("before the outage")

	if err := srv.Cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		start := time.Now()
		err := put(ctx, "k", 2)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Update %d while PostgreSQL is down: %v, want ErrUnavailable", i, err)
		}
		err = s.View(ctx, func(tx store.Tx) error {
			_, err := tx.Get([]byte("b"), []byte("k"))
			return err
		})
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("View %d while PostgreSQL is down: %v, want ErrUnavailable", i, err)
		}
		if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Ping %d while PostgreSQL is down: %v, want ErrUnavailable", i, err)
		}
		if d := time.Since(start); d > 2*failFast {
			t.Errorf("Update, View and Ping took %v to fail while PostgreSQL is down, want under %v", d, 2*failFast)
		}
	}

	if err := srv.Cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after the restart: %v", err)
	}
	// The first operations after the restart may draw connections that
	// the pool still holds from before it; they must succeed all the same.
	var got uint64
	if err := s.View(ctx, func(tx store.Tx) (err error) {
		got, err = readCounter(tx, "k")
		return err
	}); err != nil {
		t.Fatalf("View after the restart: %v", err)
	}
	if got != 1 {
		t.Errorf("k = %d after the restart, want 1: an Update that failed was applied", got)
	}
	if err := put(ctx, "k", 3); err != nil {
		t.Fatalf("Update after the restart: %v", err)
	}
	awaitAck("after the restart")
	halt()

	var counter uint64
	if err := s.View(ctx, func(tx store.Tx) (err error) {
		counter, err = readCounter(tx, "counter")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// An Update whose commit was cut off may or may not have happened; every
	// acknowledged one must have.
	if counter < uint64(acked) || counter > uint64(acked+failed) {
		t.Errorf("counter = %d after %d acknowledged and %d failed increments", counter, acked, failed)
	}
	if failed == 0 {
		t.Errorf("no writer saw the outage (%d acknowledged)", acked)
	}
	t.Logf("%d increments acknowledged, %d failed with ErrUnavailable, counter = %d", acked, failed, counter)
}

// TestRestartWhileIdle restarts PostgreSQL while a Store holds idle pooled
// connections and uses none: every connection the pool holds is dead when
// the next transactions start, and they must succeed all the same.
func TestRestartWhileIdle(t *testing.T) {
	ctx := budget(t, 60*time.Second)
	srv := restartable(t, ctx)
	dsn := freshDSN(t, srv)
	s := openTest(t, dsn)
	t.Cleanup(func() {
		if err := srv.Cluster.Start(context.Background()); err != nil && !strings.Contains(err.Error(), "already running") {
			t.Errorf("restart PostgreSQL after the test: %v", err)
		}
	})

	const parallel = 4
	// hold runs parallel transactions that overlap, so the pool ends up
	// with that many connections.
	hold := func(what string) {
		t.Helper()
		var wg sync.WaitGroup
		var inside sync.WaitGroup
		inside.Add(parallel)
		for i := range parallel {
			wg.Go(func() {
				var in sync.Once
				err := s.Update(ctx, func(tx store.Tx) error {
					if err := tx.Put([]byte("b"), []byte{byte('a' + i)}, counterValue(1)); err != nil {
						return err
					}
					in.Do(inside.Done)
					inside.Wait()
					return nil
				})
				if err != nil {
					t.Errorf("%s: Update: %v", what, err)
					in.Do(inside.Done) // do not keep the others waiting
				}
			})
		}
		wg.Wait()
	}
	restart := func() {
		t.Helper()
		hold("before the restart")
		if got := s.pool.Stat().IdleConns(); got < parallel {
			t.Fatalf("%d idle connections, want %d", got, parallel)
		}
		if err := srv.Cluster.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Cluster.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	restart()
	hold("after the restart")
	restart()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping on connections from before the restart: %v", err)
	}
}

// TestUnreachable opens stores on addresses where no PostgreSQL answers:
// Open fails fast with store.ErrUnavailable.
func TestUnreachable(t *testing.T) {
	budget(t, 20*time.Second)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().(*net.TCPAddr)
	closed.Close()

	// A peer that accepts the connection and never answers, as a server
	// behind a dead network path or a hung one does.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	t.Cleanup(held.Wait) // after the listener's Close below
	t.Cleanup(func() { silent.Close() })
	held.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	silentAddr := silent.Addr().(*net.TCPAddr)

	for _, tc := range []struct {
		name string
		dsn  string
		max  time.Duration
	}{
		{"refused", "host=127.0.0.1 port=" + strconv.Itoa(closedAddr.Port) + " user=kmsd dbname=kmsd sslmode=disable", failFast},
		{"no answer", "host=127.0.0.1 port=" + strconv.Itoa(silentAddr.Port) + " user=kmsd dbname=kmsd sslmode=disable connect_timeout=1", time.Second + failFast},
		{"no socket", "host=/nonexistent user=kmsd dbname=kmsd", failFast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(t.Context(), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Open: %v, want ErrUnavailable", err)
			}
			t.Logf("Open: %v", err)
			if d := time.Since(start); d > tc.max {
				t.Errorf("Open took %v to fail, want under %v", d, tc.max)
			}
		})
	}
}

// TestConnectTimeoutDefault checks that a DSN without connect_timeout still
// bounds connection attempts, and that one with it is obeyed.
func TestConnectTimeoutDefault(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"host=db.example user=kmsd":                   defaultConnectTimeout,
		"host=db.example user=kmsd connect_timeout=2": 2 * time.Second,
		"postgres://kmsd@db.example/kmsd":             defaultConnectTimeout,
	} {
		cfg, err := parseConfig(dsn)
		if err != nil {
			t.Fatalf("parseConfig(%q): %v", dsn, err)
		}
		if got := cfg.ConnConfig.ConnectTimeout; got != want {
			t.Errorf("parseConfig(%q): connect timeout %v, want %v", dsn, got, want)
		}
	}
}

// TestErrorsHidePassword checks that the DSN's password never reaches an
// error, for a DSN that cannot be parsed or a server that cannot be reached.
func TestErrorsHidePassword(t *testing.T) {
	budget(t, 20*time.Second)
	const secret = "s3cret-Pa55word"
	for _, dsn := range []string{
		"postgres://kmsd:" + secret + "@127.0.0.1:notaport/kmsd",
		"postgres://kmsd:" + secret + "@127.0.0.1:1/kmsd?connect_timeout=1&%zz",
		"host=127.0.0.1 port=1 user=kmsd password=" + secret + " connect_timeout=1 sslmode=disable",
		"host=127.0.0.1 port=x user=kmsd password='" + secret + "'",
	} {
		s, err := Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open's error shows the password: %v", err)
		}
	}
}
