package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store"
)

// TestViewSeesASerialState plays the read-only anomaly of snapshot isolation
// (Fekete, O'Neil and O'Neil, 2004) on three nodes. A batch number x is
// open; a receipt is filed under the x it read. T2 reads x = 1 and stalls;
// T1 closes batch 1 (x = 2) and commits; T3, a View, reports batch 1 as
// closed and lists its receipts; then T2 files its receipt under batch 1.
// Under plain snapshot isolation (REPEATABLE READ) T3 lists a closed batch
// 1 without the receipt T2 files in it, which no serial order of T1, T2 and
// T3 produces. A View must list what batch 1 ends up holding: a DEFERRABLE
// View waits for T2 and lists its receipt.
func TestViewSeesASerialState(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	t1, t2, t3 := openTest(t, dsn), openTest(t, dsn), openTest(t, dsn)
	b := []byte("b")
	if err := t1.Update(ctx, func(tx store.Tx) error {
		// Filler between x and the receipts puts them on different index
		// pages, so that PostgreSQL's page-grained predicate locks do not
		// make T1 and T2 conflict on their own and retry T2 after T1.
		for i := range 600 {
			if err := tx.Put(b, fmt.Appendf(nil, "m%0100d", i), nil); err != nil {
				return err
			}
		}
		return tx.Put(b, []byte("a"), counterValue(1))
	}); err != nil {
		t.Fatal(err)
	}

	read, resume := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var t2Attempts int
	wg.Go(func() { // T2: file a receipt under the open batch.
		first := true
		err := t2.Update(ctx, func(tx store.Tx) error {
			t2Attempts++
			x, err := readCounter(tx, "a")
			if err != nil {
				return err
			}
			if first {
				first = false
				close(read)
				<-resume
			}
			return tx.Put(b, []byte{'z', byte('0' + x)}, nil)
		})
		if err != nil {
			t.Errorf("T2: %v", err)
		}
	})
	<-read
	if err := t1.Update(ctx, func(tx store.Tx) error { // T1: close batch 1.
		x, err := readCounter(tx, "a")
		if err != nil {
			return err
		}
		return tx.Put(b, []byte("a"), counterValue(x+1))
	}); err != nil {
		t.Fatal(err)
	}

	type report struct {
		open     uint64
		receipts int
	}
	reported := make(chan report, 1)
	wg.Go(func() { // T3: report the last closed batch.
		var r report
		err := t3.View(ctx, func(tx store.Tx) error {
			var err error
			if r.open, err = readCounter(tx, "a"); err != nil {
				return err
			}
			kvs, err := tx.Scan(b, []byte{'z', byte('0' + r.open - 1)}, nil, 0)
			r.receipts = len(kvs)
			return err
		})
		if err != nil {
			t.Errorf("T3: %v", err)
		}
		reported <- r
	})

	// Let T2 go on once T3 has either finished or is waiting for a safe
	// snapshot; waiting on a timer instead could let a View that does
	// not wait pass by starting late.
	var r report
	if err := waitSafeSnapshotOr(ctx, dsn, reported, &r); err != nil {
		t.Fatal(err)
	}
	close(resume)
	wg.Wait()
	select {
	case r = <-reported:
	default:
	}
	if r.open != 2 {
		t.Fatalf("T3 saw batch %d open, want 2", r.open)
	}
	var final int
	if err := t1.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(b, []byte("z1"), nil, 0)
		final = len(kvs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if r.receipts != final {
		t.Errorf("T3 listed %d receipts in closed batch 1, which ends up holding %d: not a serial state", r.receipts, final)
	}
	t.Logf("T2 ran %d times; batch 1 holds %d receipts", t2Attempts, final)
}

// waitSafeSnapshotOr returns once a backend waits for a safe snapshot, or
// once done delivers (into r).
func waitSafeSnapshotOr[T any](ctx context.Context, dsn string, done <-chan T, r *T) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		select {
		case *r = <-done:
			return nil
		default:
		}
		var waiting bool
		err := conn.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SafeSnapshot')").Scan(&waiting)
		if err != nil {
			return err
		}
		if waiting {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("T3 neither finished nor waited for a safe snapshot")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
