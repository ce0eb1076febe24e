package kms

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// useRuns makes every flush write runs of at most runMax uses, merged
// once there are mergeRuns of them.
func (h *harness) useRuns(runMax, mergeRuns int) {
	if n := h.svc.usage.Pending(); n != 0 {
		h.t.Fatalf("useRuns replaces the tracker, and would drop the %d uses it holds", n)
	}
	h.svc.usage = h.svc.usageTracker(keyuse.Limits{RunAt: 1, RunMax: runMax, MergeUses: 1 << 30, MergeRuns: mergeRuns})
}

// oneRun is a harness whose one key's use, by request req-1, is in a run.
func oneRun(t *testing.T) (*harness, string) {
	h := newHarness(t)
	id := h.createKey()
	h.useRuns(100, 1<<30)
	h.encryptAs(id, "req-1")
	if _, err := h.svc.FlushLastUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, id
}

// runsLeft counts the runs listed and the chunks stored.
func (h *harness) runsLeft() (runs, chunks int) {
	h.t.Helper()
	if err := h.st.View(context.Background(), func(tx store.Tx) error {
		r, err := tx.Scan(keyuse.BucketRuns, nil, nil, 0)
		if err != nil {
			return err
		}
		c, err := tx.Scan(keyuse.BucketChunks, nil, nil, 0)
		runs, chunks = len(r), len(c)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return runs, chunks
}

// A flush of many uses writes them as runs, which GetKeyLastUsage reads
// whatever chunk of whichever run holds a key, until a merge writes each
// key's latest use in place and drops the runs.
func TestRunsHoldUsesUntilMerged(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const n = 3*keyuse.RunChunk + 5
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.createKey()
	}
	h.useRuns(2*keyuse.RunChunk, 1<<30)
	for i, id := range ids {
		h.encryptAs(id, fmt.Sprintf("req-%d", i))
	}
	first := h.clock.Now()
	if w, err := h.svc.FlushLastUsage(ctx); w != n || err != nil {
		t.Fatalf("FlushLastUsage = %d, %v; want %d", w, err, n)
	}
	if runs, chunks := h.runsLeft(); runs != 2 || chunks != 4 {
		t.Fatalf("%d runs in %d chunks, want 2 in 4", runs, chunks)
	}
	if uses, busy := h.svc.UnmergedKeyUses(), h.svc.KeyUsesBusy(); uses != n || busy {
		t.Fatalf("UnmergedKeyUses = %d, KeyUsesBusy = %v after the flush; want %d, false", uses, busy, n)
	}
	for _, id := range ids {
		if u := h.storedUse(id); u != nil {
			t.Fatalf("a flush to runs wrote %s in place: %+v", id, u)
		}
	}
	// A restarted server has nothing in memory: every use is read from
	// its run, the last of each chunk too.
	h.reopen()
	for i, id := range ids {
		wantUse(t, h.lastUsage(call(), id), "Encrypt", fmt.Sprintf("req-%d", i), first)
	}
	// Later uses of some keys, in runs of their own, win over the earlier.
	h.useRuns(keyuse.RunChunk, 1<<30)
	h.clock.Add(time.Minute)
	later := h.clock.Now()
	for i := 0; i < n; i += 3 {
		h.encryptAs(ids[i], fmt.Sprintf("again-%d", i))
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	want := func(i int) (string, time.Time) {
		if i%3 == 0 {
			return fmt.Sprintf("again-%d", i), later
		}
		return fmt.Sprintf("req-%d", i), first
	}
	h.reopen()
	for i, id := range ids {
		req, at := want(i)
		wantUse(t, h.lastUsage(call(), id), "Encrypt", req, at)
	}
	if w, err := h.svc.usage.MergeAll(ctx); w != n || err != nil {
		t.Fatalf("merge wrote %d keys, %v; want %d", w, err, n)
	}
	// The merge job counts what the runs hold, with none left to merge.
	if w, err := h.svc.MergeKeyUseRuns(ctx); w != 0 || err != nil {
		t.Fatalf("MergeKeyUseRuns = %d, %v after the merge; want 0", w, err)
	}
	if uses := h.svc.UnmergedKeyUses(); uses != 0 {
		t.Fatalf("UnmergedKeyUses = %d after the merge", uses)
	}
	if runs, chunks := h.runsLeft(); runs != 0 || chunks != 0 {
		t.Fatalf("%d runs in %d chunks left after the merge", runs, chunks)
	}
	for i, id := range ids {
		req, at := want(i)
		if u := h.storedUse(id); u == nil || u.RequestID != req || !u.At.Equal(at) {
			t.Fatalf("key %d stored %+v after the merge, want %s at %v", i, u, req, at)
		}
		wantUse(t, h.lastUsage(call(), id), "Encrypt", req, at)
	}
}

// A use waiting in a run when its key is deleted is written nowhere, and
// a key made again with the same id does not inherit it.
func TestRunsForgetDeletedKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	gone, again := h.createKey(), h.createKey()
	h.useRuns(100, 1<<30)
	h.encryptAs(gone, "req-gone")
	h.encryptAs(again, "req-again")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	againKey := keyKey("111122223333", east, again)
	var record []byte
	if err := h.st.View(ctx, func(tx store.Tx) (err error) {
		record, err = tx.Get(bucketKeys, againKey)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{gone, again} {
		if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Add(7 * day)
	h.deleteDue(2)
	// The same key made again, as a replica is in a Region its deleted
	// replica was in.
	if err := h.st.Update(ctx, func(tx store.Tx) error { return tx.Put(bucketKeys, againKey, record) }); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	h.useRuns(100, 1<<30)
	if u := h.lastUsage(call(), again).KeyLastUsage; *u != (kmsapi.KeyLastUsageData{}) {
		t.Fatalf("the key made again inherited a use of the deleted one: %+v", u)
	}
	if _, err := h.svc.usage.MergeAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{gone, again} {
		if u := h.storedUse(id); u != nil {
			t.Errorf("the merge wrote a use of a deleted key: %+v", u)
		}
	}
	if u := h.lastUsage(call(), again).KeyLastUsage; *u != (kmsapi.KeyLastUsageData{}) {
		t.Fatalf("after the merge, the key made again has a use of the deleted one: %+v", u)
	}
	// Its own uses are recorded as any key's.
	h.clock.Add(time.Minute)
	h.encryptAs(again, "req-new")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	wantUse(t, h.lastUsage(call(), again), "Encrypt", "req-new", h.clock.Now())
}
