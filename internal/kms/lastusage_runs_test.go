package kms

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// useRuns makes every flush write runs of at most runMax uses, merged
// once there are mergeRuns of them.
func (h *harness) useRuns(runMax, mergeRuns int) {
	u := h.svc.usage
	u.runAt, u.runMax, u.mergeUses, u.mergeRuns = 1, runMax, 1<<30, mergeRuns
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
		r, err := tx.Scan(bucketUseRuns, nil, nil, 0)
		if err != nil {
			return err
		}
		c, err := tx.Scan(bucketUseChunks, nil, nil, 0)
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
	const n = 3*runChunk + 5
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.createKey()
	}
	for i, id := range ids {
		h.encryptAs(id, fmt.Sprintf("req-%d", i))
	}
	first := h.clock.Now()
	h.useRuns(2*runChunk, 1<<30)
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
	h.useRuns(runChunk, 1<<30)
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
	if w, err := h.svc.mergeUseRuns(ctx, true); w != n || err != nil {
		t.Fatalf("merge wrote %d keys, %v; want %d", w, err, n)
	}
	if err := h.svc.countRuns(ctx); err != nil {
		t.Fatal(err)
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
	other := lastUse{at: stamp.UnixNano(), operation: "Decrypt", texts: &[2]string{"req-other-node", "ev-req-other-node"}}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(bucketLastUsage, keyKey("111122223333", east, ids[1]), other.appendStored(nil))
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
	h.clock.Add(usageMergeAge - time.Second)
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
	const n = 2*runChunk + 7
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.createKey()
	}
	h.useRuns(runChunk, 1<<30)
	u := other.usage
	u.runAt, u.runMax, u.mergeUses, u.mergeRuns = 1, 100, 1<<30, 1<<30
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
			_, err := svc.mergeUseRuns(ctx, true)
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
	if _, err := h.svc.mergeUseRuns(ctx, true); err != nil {
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

// The merge job drops the deletion notes older than goneKept, and keeps
// the others, whether or not a merge is due.
func TestMergePrunesOldDeletionNotes(t *testing.T) {
	h, _ := oneRun(t)
	ctx := context.Background()
	now := h.clock.Now()
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		if err := noteGone(tx, []byte("old"), now.Add(-goneKept-time.Second)); err != nil {
			return err
		}
		return noteGone(tx, []byte("recent"), now.Add(-goneKept+time.Second))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.MergeKeyUseRuns(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketUseGone, nil, nil, 0)
		if err == nil && (len(kvs) != 1 || string(kvs[0].Key) != "recent") {
			err = fmt.Errorf("deletion notes after the merge: %v", kvs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// Malformed runs and chunks are errors, not uses.
func TestMalformedRuns(t *testing.T) {
	for _, v := range [][]byte{nil, {0x80}, {1, 9, 'a'}} {
		if _, err := parseRunInfo(make([]byte, 16), v); err == nil {
			t.Errorf("run %x parsed", v)
		}
	}
	if _, err := parseRunInfo([]byte("short"), []byte{1, 0}); err == nil {
		t.Error("a run with a short id parsed")
	}
	use := (&lastUse{at: 1, operation: "Encrypt", texts: &[2]string{"a", "b"}}).appendStored(nil)
	good := appendChunkUse(nil, []byte("k"), use)
	if uses, err := parseChunk(good); err != nil || len(uses) != 1 || string(uses[0].key) != "k" || uses[0].at != 1 {
		t.Fatalf("parseChunk = %+v, %v", uses, err)
	}
	for i := range len(good) - 1 {
		if _, err := parseChunk(good[:i+1]); err == nil {
			t.Errorf("a chunk cut at %d parsed", i+1)
		}
	}
	for _, bad := range [][]byte{nil, appendChunkUse(nil, nil, use), appendChunkUse(nil, []byte("k"), []byte("not a use"))} {
		if _, err := parseChunk(bad); err == nil {
			t.Errorf("chunk %x parsed", bad)
		}
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
		if _, err := svc.trackingStart(ctx); err != nil {
			t.Fatal(err)
		}
		u := svc.usage
		u.runAt, u.runMax, u.mergeUses, u.mergeRuns = 1, 100, 1<<30, 1<<30
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
		if _, err := svc.mergeUseRuns(ctx, true); !errors.Is(err, errCommit) {
			t.Fatalf("a merge cut after %d transactions: %v", cut, err)
		}
		for i, id := range ids {
			if i%37 == 0 {
				wantUse(t, h.lastUsage(call(), id), "Encrypt", fmt.Sprintf("c%d-%d", cut, i), at)
			}
		}
		if _, err := h.svc.mergeUseRuns(ctx, true); err != nil {
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
