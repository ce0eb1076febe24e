package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store"
)

func readCounter(tx store.Tx, key string) (uint64, error) {
	v, err := tx.Get([]byte("b"), []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

func counterValue(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// TestCrossNodeCounter increments one counter from two Stores (two nodes,
// each with its own pool) at once: no increment may be lost, and a fn that
// drops the Tx's serialization error must still be retried rather than have
// its transaction committed or rolled back silently.
func TestCrossNodeCounter(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	nodes := [2]*Store{openTest(t, dsn), openTest(t, dsn)}

	const workers, rounds = 6, 40
	var commits [2]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		node := w % 2
		swallow := w/2%2 == 1 // half the workers ignore Put's error
		wg.Go(func() {
			for range rounds {
				err := nodes[node].Update(ctx, func(tx store.Tx) error {
					n, err := readCounter(tx, "counter")
					if err != nil {
						return err
					}
					err = tx.Put([]byte("b"), []byte("counter"), counterValue(n+1))
					if swallow {
						return nil
					}
					return err
				})
				if err != nil {
					t.Errorf("node %d: Update: %v", node, err)
					return
				}
				commits[node].Add(1)
			}
		})
	}
	wg.Wait()

	for i, s := range nodes {
		var got uint64
		if err := s.View(ctx, func(tx store.Tx) (err error) {
			got, err = readCounter(tx, "counter")
			return err
		}); err != nil {
			t.Fatalf("node %d: View: %v", i, err)
		}
		if got != workers*rounds {
			t.Errorf("node %d reads counter = %d after %d increments", i, got, workers*rounds)
		}
	}
	if commits[0].Load() == 0 || commits[1].Load() == 0 {
		t.Errorf("commits per node = %d, %d: both nodes must have written", commits[0].Load(), commits[1].Load())
	}
}

// TestCrossNodeWriteSkew forces the write-skew pattern on every round: two
// nodes each read both flags, wait until the other has read them too, then
// turn their own flag off if both were on. Serializable execution leaves
// exactly one flag on; snapshot isolation leaves none.
func TestCrossNodeWriteSkew(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	nodes := [2]*Store{openTest(t, dsn), openTest(t, dsn)}
	flags := [2]string{"x", "y"}

	for round := range 10 {
		if err := nodes[0].Update(ctx, func(tx store.Tx) error {
			for _, k := range flags {
				if err := tx.Put([]byte("b"), []byte(k), counterValue(1)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		var bothRead sync.WaitGroup
		bothRead.Add(2)
		var wg sync.WaitGroup
		for i, s := range nodes {
			wg.Go(func() {
				first := true
				err := s.Update(ctx, func(tx store.Tx) error {
					var on uint64
					for _, k := range flags {
						n, err := readCounter(tx, k)
						if err != nil {
							return err
						}
						on += n
					}
					if first {
						// Only the first attempt meets the other: a retry
						// runs after the other node has committed.
						first = false
						bothRead.Done()
						bothRead.Wait()
					}
					if on < 2 {
						return nil
					}
					return tx.Put([]byte("b"), []byte(flags[i]), counterValue(0))
				})
				if err != nil {
					t.Errorf("node %d: Update: %v", i, err)
				}
			})
		}
		wg.Wait()

		var on uint64
		if err := nodes[round%2].View(ctx, func(tx store.Tx) error {
			for _, k := range flags {
				n, err := readCounter(tx, k)
				if err != nil {
					return err
				}
				on += n
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if on != 1 {
			t.Fatalf("round %d: %d flags on, want 1 (write skew across nodes)", round, on)
		}
	}
}

// TestNothingCached checks that a node reads what another node committed
// the moment the commit returned.
func TestNothingCached(t *testing.T) {
	ctx := budget(t, 20*time.Second)
	dsn := freshDSN(t, server)
	a, b := openTest(t, dsn), openTest(t, dsn)

	for i := range uint64(20) {
		if err := a.Update(ctx, func(tx store.Tx) error {
			return tx.Put([]byte("b"), []byte("k"), counterValue(i))
		}); err != nil {
			t.Fatal(err)
		}
		var got uint64
		if err := b.View(ctx, func(tx store.Tx) (err error) {
			got, err = readCounter(tx, "k")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != i {
			t.Fatalf("node b reads %d right after node a committed %d", got, i)
		}
		a, b = b, a
	}
}

// TestContextEndsLockWait gives up on an Update that waits for a row another
// node holds: it fails with the context's error in time, and its statement
// stops waiting on the server too (pgx cancels it when it drops the
// connection) instead of queueing behind the lock after its caller has gone.
func TestContextEndsLockWait(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a, b := openTest(t, dsn), openTest(t, dsn)
	key := []byte("k")
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("b"), key, []byte("0")) }); err != nil {
		t.Fatal(err)
	}

	locked, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := a.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put([]byte("b"), key, []byte("a")); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("node a: Update: %v", err)
		}
	})
	defer wg.Wait()
	defer close(release)
	<-locked

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Update(short, func(tx store.Tx) error { return tx.Put([]byte("b"), key, []byte("b")) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update waiting for a lock past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Update took %v to give up after a 200ms deadline", d)
	}

	// A View waits for a safe snapshot until the Updates running when it
	// began are over, and gives up on its context's deadline too.
	short, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = b.View(short, func(tx store.Tx) error {
		_, err := tx.Get([]byte("b"), key)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("View waiting for a safe snapshot past its deadline: %v, want context.DeadlineExceeded", err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// pgx cancels the abandoned statements in the background: give the
	// cancel requests a moment to land.
	var waiting int
	for deadline := time.Now().Add(2 * time.Second); ; {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' OR wait_event = 'SafeSnapshot'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waiting != 0 {
		t.Errorf("%d backends still wait for a lock or a snapshot 2s after their callers gave up", waiting)
	}
}
