package postgres

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
