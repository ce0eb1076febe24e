package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// readUint reads a counter; a missing key counts as 0.
func readUint(tx store.Tx, bucket, key string) (uint64, error) {
	v, err := tx.Get([]byte(bucket), []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter %s/%s is %d bytes, want 8", bucket, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func writeUint(tx store.Tx, bucket, key string, n uint64) error {
	return tx.Put([]byte(bucket), []byte(key), binary.BigEndian.AppendUint64(nil, n))
}

// testConcurrentCounter loses updates unless Update is serializable,
// including for the first writes that create the key.
func testConcurrentCounter(t *testing.T, f Factory) {
	s := openFresh(t, f)
	const workers, rounds = 8, 50

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				err := s.Update(t.Context(), func(tx store.Tx) error {
					n, err := readUint(tx, "b", "counter")
					if err != nil {
						return err
					}
					runtime.Gosched() // widen the race window
					return writeUint(tx, "b", "counter", n+1)
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	var got uint64
	view(t, s, func(tx store.Tx) error {
		var err error
		got, err = readUint(tx, "b", "counter")
		return err
	})
	if got != workers*rounds {
		t.Fatalf("counter = %d after %d increments", got, workers*rounds)
	}
}

// testSnapshotView runs Views while a writer commits, and checks that every
// View sees one committed state: two keys always written together read
// equal, a re-read returns what the first read did, and a Scan agrees with
// the row count written in the same transactions. A View overlapped a
// commit when it read x while Update x+1 had already returned by its end;
// the writer waits for a View to be open before each commit and goes on
// until enough Views overlapped one, so the checks run against a moving
// store on any machine.
func testSnapshotView(t *testing.T, f Factory) {
	s := openFresh(t, f)
	const minWrites, minOverlaps = 60, 20
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var committed, overlaps atomic.Uint64
	viewOpen := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		// Write i sets x and y to i and adds the i-th row.
		for i := uint64(1); i <= minWrites || overlaps.Load() < minOverlaps; i++ {
			select { // a View that has ended may have left a stale signal
			case <-viewOpen:
			default:
			}
			select {
			case <-viewOpen:
			case <-ctx.Done():
				t.Errorf("after %d commits, %d Views overlapped one, want %d: %v", i-1, overlaps.Load(), minOverlaps, ctx.Err())
				return
			}
			err := s.Update(t.Context(), func(tx store.Tx) error {
				if err := writeUint(tx, "b", "x", i); err != nil {
					return err
				}
				if err := tx.Put([]byte("rows"), fmt.Appendf(nil, "%06d", i), nil); err != nil {
					return err
				}
				return writeUint(tx, "b", "y", i)
			})
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
				return
			}
			committed.Store(i)
		}
	})

	var views [2]int
	for r := range views {
		wg.Go(func() {
			defer cancel() // a failed View must not leave the writer waiting
			for {
				select {
				case <-stop:
					return
				default:
				}
				views[r]++
				err := s.View(t.Context(), func(tx store.Tx) error {
					x, err := readUint(tx, "b", "x")
					if err != nil {
						return err
					}
					select {
					case viewOpen <- struct{}{}:
					default:
					}
					runtime.Gosched() // let the writer commit between reads
					rows, err := tx.Scan([]byte("rows"), nil, nil, 0)
					if err != nil {
						return err
					}
					runtime.Gosched()
					y, err := readUint(tx, "b", "y")
					if err != nil {
						return err
					}
					x2, err := readUint(tx, "b", "x")
					if err != nil {
						return err
					}
					if x != y || x != x2 {
						return fmt.Errorf("torn snapshot: x=%d, y=%d, x again=%d", x, y, x2)
					}
					if uint64(len(rows)) != x {
						return fmt.Errorf("torn snapshot: %d rows with x=%d", len(rows), x)
					}
					if committed.Load() > x {
						overlaps.Add(1)
					}
					return nil
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%v views during %d writes, %d of them overlapped a commit", views, committed.Load(), overlaps.Load())
}

// testWriteSkew catches snapshot isolation passed off as serializable: two
// transactions each read both flags and turn one off only if both are on.
// Run serially, exactly one flag stays on; under snapshot isolation both can
// see two flags on and both turn theirs off.
func testWriteSkew(t *testing.T, f Factory) {
	s := openFresh(t, f)
	const rounds = 20
	flags := [2]string{"x", "y"}

	for round := range rounds {
		update(t, s, func(tx store.Tx) error {
			for _, k := range flags {
				if err := writeUint(tx, "b", k, 1); err != nil {
					return err
				}
			}
			return nil
		})

		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, mine := range flags {
			wg.Go(func() {
				<-start
				err := s.Update(t.Context(), func(tx store.Tx) error {
					var on uint64
					for _, k := range flags {
						n, err := readUint(tx, "b", k)
						if err != nil {
							return err
						}
						on += n
					}
					runtime.Gosched()
					if on < 2 {
						return nil
					}
					return writeUint(tx, "b", mine, 0)
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()

		var on uint64
		view(t, s, func(tx store.Tx) error {
			for _, k := range flags {
				n, err := readUint(tx, "b", k)
				if err != nil {
					return err
				}
				on += n
			}
			return nil
		})
		if on != 1 {
			t.Fatalf("round %d: %d flags on, want 1 (write skew)", round, on)
		}
	}
}
