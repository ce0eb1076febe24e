package kms

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// Once the runs number mergeRuns, a flush asks for a merge, and the merge
// keeps a later use stored in place (another node's).
func TestFlushesAskForAMerge(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := []string{h.createKey(), h.createKey(), h.createKey()}
	h.useRuns(2, 3)
	h.encryptAs(ids[0], "req-0")
	h.encryptAs(ids[1], "req-1")
	h.encryptAs(ids[2], "req-2")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, _ := h.runsLeft(); runs != 2 || h.svc.KeyUsesBusy() {
		t.Fatalf("%d runs (busy %v), want 2 and no merge due", runs, h.svc.KeyUsesBusy())
	}
	if n, err := h.svc.MergeKeyUseRuns(ctx); n != 0 || err != nil {
		t.Fatalf("MergeKeyUseRuns = %d, %v before a merge is due", n, err)
	}
	stamp := h.clock.Now().Add(time.Hour)
	other := keyuse.Use{At: stamp, Operation: "Decrypt", RequestID: "req-other-node", EventID: "ev-req-other-node"}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(keyuse.BucketLastUsage, keyKey("111122223333", east, ids[1]), other.AppendStored(nil))
	}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Second)
	h.encryptAs(ids[0], "req-0b")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.svc.KeyUseMergeDue():
	default:
		t.Fatal("a flush that left 3 runs asked for no merge")
	}
	if !h.svc.KeyUsesBusy() || h.svc.UnmergedKeyUses() != 4 {
		t.Fatalf("busy %v with %d uses unmerged, want true and 4", h.svc.KeyUsesBusy(), h.svc.UnmergedKeyUses())
	}
	// The use of ids[1] in place is later than its run's: 2 written.
	if n, err := h.svc.MergeKeyUseRuns(ctx); n != 2 || err != nil {
		t.Fatalf("MergeKeyUseRuns = %d, %v; want 2", n, err)
	}
	if runs, chunks := h.runsLeft(); runs != 0 || chunks != 0 || h.svc.KeyUsesBusy() {
		t.Fatalf("%d runs in %d chunks left (busy %v), want them merged", runs, chunks, h.svc.KeyUsesBusy())
	}
	for id, want := range map[string]string{ids[0]: "req-0b", ids[1]: "req-other-node", ids[2]: "req-2"} {
		if u := h.storedUse(id); u == nil || u.RequestID != want {
			t.Errorf("stored %+v, want %s", u, want)
		}
	}
}

// A run an hour old is merged, however few the runs.
func TestOldRunsAreMerged(t *testing.T) {
	h, _ := oneRun(t)
	ctx := context.Background()
	h.clock.Add(keyuse.MergeAge - time.Second)
	if n, err := h.svc.MergeKeyUseRuns(ctx); n != 0 || err != nil {
		t.Fatalf("MergeKeyUseRuns = %d, %v before the run is an hour old", n, err)
	}
	h.clock.Add(time.Second)
	if n, err := h.svc.MergeKeyUseRuns(ctx); n != 1 || err != nil {
		t.Fatalf("MergeKeyUseRuns = %d, %v once the run is an hour old", n, err)
	}
	if runs, _ := h.runsLeft(); runs != 0 {
		t.Fatalf("%d runs left", runs)
	}
}

// A flush that finds nothing to write makes a merge of the runs due.
func TestIdleFlushAsksForAMerge(t *testing.T) {
	h, _ := oneRun(t)
	ctx := context.Background()
	if h.svc.KeyUsesBusy() {
		t.Fatal("a merge is due after a flush that wrote a run")
	}
	if n, err := h.svc.FlushLastUsage(ctx); n != 0 || err != nil {
		t.Fatalf("FlushLastUsage = %d, %v; want nothing written", n, err)
	}
	if !h.svc.KeyUsesBusy() {
		t.Fatal("no merge due after a flush that found nothing to write")
	}
	if n, err := h.svc.MergeKeyUseRuns(ctx); n != 1 || err != nil || h.svc.KeyUsesBusy() {
		t.Fatalf("MergeKeyUseRuns = %d, %v (busy %v); want 1 written", n, err, h.svc.KeyUsesBusy())
	}
}

// Two nodes sharing a store merge the same runs at once: each key ends
// with its latest use, whichever node recorded it, and no run is left.
func TestConcurrentMergesOfSharedRuns(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	other := h.service(h.st, Limits{})
	const n = 2*keyuse.RunChunk + 7
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.createKey()
	}
	h.useRuns(keyuse.RunChunk, 1<<30)
	other.usage = other.usageTracker(keyuse.Limits{RunAt: 1, RunMax: 100, MergeUses: 1 << 30, MergeRuns: 1 << 30})
	for i, id := range ids {
		h.encryptAs(id, fmt.Sprintf("a-%d", i))
	}
	h.clock.Add(time.Second)
	for i, id := range ids {
		if i%2 == 1 {
			c := call()
			c.RequestID, c.EventID = fmt.Sprintf("b-%d", i), fmt.Sprintf("ev-b-%d", i)
			if _, err := trackedEncrypt(other, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, svc := range []*Service{h.svc, other} {
		if _, err := svc.FlushLastUsage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 2)
	for _, svc := range []*Service{h.svc, other} {
		go func() {
			_, err := svc.usage.MergeAll(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if runs, chunks := h.runsLeft(); runs != 0 || chunks != 0 {
		t.Fatalf("%d runs in %d chunks left", runs, chunks)
	}
	for i, id := range ids {
		want := fmt.Sprintf("a-%d", i)
		if i%2 == 1 {
			want = fmt.Sprintf("b-%d", i)
		}
		if u := h.storedUse(id); u == nil || u.RequestID != want {
			t.Fatalf("key %d stored %+v, want %s", i, u, want)
		}
	}
}

// The merge job drops the deletion notes older than keyuse.GoneKept, and
// keeps the others, whether or not a merge is due.
func TestMergePrunesOldDeletionNotes(t *testing.T) {
	h, _ := oneRun(t)
	ctx := context.Background()
	now := h.clock.Now()
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		if err := keyuse.Deleted(tx, []byte("old"), now.Add(-keyuse.GoneKept-time.Second)); err != nil {
			return err
		}
		return keyuse.Deleted(tx, []byte("recent"), now.Add(-keyuse.GoneKept+time.Second))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.MergeKeyUseRuns(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(keyuse.BucketGone, nil, nil, 0)
		if err == nil && (len(kvs) != 1 || string(kvs[0].Key) != "recent") {
			err = fmt.Errorf("deletion notes after the merge: %v", kvs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// cutStore commits left Updates, then fails every other one after running
// its function, as a crash or a failed commit would.
type cutStore struct {
	store.Store
	left atomic.Int32
}

func (s *cutStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.left.Add(-1) >= 0 {
		return s.Store.Update(ctx, fn)
	}
	return s.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errCommit
	})
}

// A run that does not commit leaves its uses in memory for the next
// flush, and a merge that stops at any transaction leaves every key's
// latest use readable, and is finished by the next.
func TestRunsSurviveFailedTransactions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.createKey()
	}
	for cut := range 7 {
		cs := &cutStore{Store: h.st}
		cs.left.Store(1 << 20)
		svc := h.serviceOver(cs)
		svc.usage = svc.usageTracker(keyuse.Limits{RunAt: 1, RunMax: 100, MergeUses: 1 << 30, MergeRuns: 1 << 30})
		if _, err := svc.usage.TrackingStart(ctx); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(time.Second)
		at := h.clock.Now()
		for i, id := range ids {
			c := call()
			c.RequestID, c.EventID = fmt.Sprintf("c%d-%d", cut, i), fmt.Sprintf("ev-c%d-%d", cut, i)
			if _, err := trackedEncrypt(svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		cs.left.Store(0)
		if _, err := svc.FlushLastUsage(ctx); !errors.Is(err, errCommit) {
			t.Fatalf("a flush whose run does not commit: %v", err)
		}
		if runs, _ := h.runsLeft(); runs != 0 || svc.PendingKeyUses() != n {
			t.Fatalf("after a failed run: %d runs, %d uses in memory; want 0 and %d", runs, svc.PendingKeyUses(), n)
		}
		cs.left.Store(1 << 20)
		if w, err := svc.FlushLastUsage(ctx); w != n || err != nil {
			t.Fatalf("FlushLastUsage = %d, %v; want %d", w, err, n)
		}
		// 3 runs of one chunk: the merge writes (1), then drops each
		// run's chunk and its entry (6).
		cs.left.Store(int32(cut))
		if _, err := svc.usage.MergeAll(ctx); !errors.Is(err, errCommit) {
			t.Fatalf("a merge cut after %d transactions: %v", cut, err)
		}
		for i, id := range ids {
			if i%37 == 0 {
				wantUse(t, h.lastUsage(call(), id), "Encrypt", fmt.Sprintf("c%d-%d", cut, i), at)
			}
		}
		if _, err := h.svc.usage.MergeAll(ctx); err != nil {
			t.Fatal(err)
		}
		if runs, chunks := h.runsLeft(); runs != 0 || chunks != 0 {
			t.Fatalf("cut after %d: %d runs in %d chunks left after the next merge", cut, runs, chunks)
		}
		for i, id := range ids {
			if u := h.storedUse(id); u == nil || u.RequestID != fmt.Sprintf("c%d-%d", cut, i) {
				t.Fatalf("cut after %d: key %d stored %+v", cut, i, u)
			}
		}
	}
}
