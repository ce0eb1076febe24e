package kms

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/uuid"
)

var (
	trackedEncrypt = RecordsUse("Encrypt", (*Service).Encrypt)
	trackedDecrypt = RecordsUse("Decrypt", (*Service).Decrypt)
	trackedReEnc   = RecordsUse("ReEncrypt", (*Service).ReEncrypt)
)

func (h *harness) lastUsage(c *Call, id string) *kmsapi.GetKeyLastUsageOutput {
	h.t.Helper()
	out, err := h.svc.GetKeyLastUsage(context.Background(), c, &kmsapi.GetKeyLastUsageInput{KeyId: id})
	if err != nil {
		h.t.Fatalf("GetKeyLastUsage %s: %v", id, err)
	}
	return out
}

// encryptAs makes a tracked Encrypt under id as request reqID, whose
// audit event is "ev-" + reqID (what wantUse expects).
func (h *harness) encryptAs(id, reqID string) {
	h.t.Helper()
	c := call()
	c.RequestID, c.EventID = reqID, "ev-"+reqID
	if _, err := trackedEncrypt(h.svc, context.Background(), c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		h.t.Fatal(err)
	}
}

func wantUse(t *testing.T, out *kmsapi.GetKeyLastUsageOutput, op, requestID string, at time.Time) {
	t.Helper()
	u := out.KeyLastUsage
	if u == nil || string(u.Operation) != op || u.KmsRequestId != requestID || u.CloudTrailEventId != "ev-"+requestID || u.Timestamp == nil || !time.Time(*u.Timestamp).Equal(at) {
		t.Fatalf("last usage %+v, want %s by request %s at %v", u, op, requestID, at)
	}
}

func TestLastUsageNeverUsedKey(t *testing.T) {
	h := newHarness(t)
	started := h.clock.Now()
	h.clock.Add(time.Hour)
	id := h.createKey()
	out := h.lastUsage(call(), id)
	if out.KeyLastUsage == nil || *out.KeyLastUsage != (kmsapi.KeyLastUsageData{}) {
		t.Fatalf("a never-used key: %+v, want an empty KeyLastUsage", out.KeyLastUsage)
	}
	created := h.clock.Now()
	if out.KeyId != id || !time.Time(*out.KeyCreationDate).Equal(created) || !time.Time(*out.TrackingStartDate).Equal(created) {
		t.Fatalf("%+v: want the key's creation as its tracking start", out)
	}
	// A key older than tracking reports the tracking start. Tracking began
	// when this store's first kmsd process started.
	var rec *keyRecord
	_ = h.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		rec, err = loadKey(tx, "111122223333", east, id)
		return err
	})
	rec.Created = started.Add(-48 * time.Hour)
	if err := h.st.Update(context.Background(), func(tx store.Tx) error { return putKey(tx, rec) }); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	out = h.lastUsage(call(), id)
	if !time.Time(*out.TrackingStartDate).Equal(started) {
		t.Fatalf("tracking start %v, want %v", time.Time(*out.TrackingStartDate), started)
	}
	_, err := h.svc.GetKeyLastUsage(context.Background(), call(), &kmsapi.GetKeyLastUsageInput{KeyId: "alias/x"})
	wantCode(t, err, kmserr.InvalidArn) // GetKeyLastUsage takes no alias
}

func TestLastUsageRecordsSuccessOnly(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	c := call()
	c.RequestID = "req-encrypt"
	c.EventID = "ev-" + c.RequestID
	enc, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	at := h.clock.Now()
	wantUse(t, h.lastUsage(call(), id), "Encrypt", "req-encrypt", at)

	// Failures, dry runs and untracked operations leave it alone.
	h.clock.Add(time.Minute)
	bad := call()
	bad.RequestID = "req-bad"
	bad.EventID = "ev-" + bad.RequestID
	if _, err := trackedDecrypt(h.svc, ctx, bad, &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}}); err == nil {
		t.Fatal("decrypt with the wrong context succeeded")
	}
	dry := call()
	dry.RequestID = "req-dry"
	dry.EventID = "ev-" + dry.RequestID
	if _, err := trackedEncrypt(h.svc, ctx, dry, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x"), DryRun: kmsapi.Bool(true)}); err == nil {
		t.Fatal("dry run succeeded")
	}
	if _, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, h.lastUsage(call(), id), "Encrypt", "req-encrypt", at)

	// ReEncrypt uses two keys and records both.
	other := h.createKey()
	re := call()
	re.RequestID = "req-reencrypt"
	re.EventID = "ev-" + re.RequestID
	if _, err := trackedReEnc(h.svc, ctx, re, &kmsapi.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: other}); err != nil {
		t.Fatal(err)
	}
	wantUse(t, h.lastUsage(call(), id), "ReEncrypt", "req-reencrypt", h.clock.Now())
	wantUse(t, h.lastUsage(call(), other), "ReEncrypt", "req-reencrypt", h.clock.Now())
}

// TestLastUsageSurvivesRestartAfterFlush checks what reaches the store and
// when: nothing before a flush, the newest use after it, and no disk write
// by the operation itself.
func TestLastUsageSurvivesRestartAfterFlush(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	used := func(reqID string) { h.encryptAs(id, reqID) }
	used("req-1")
	h.reopen() // no flush: the use is lost, as a crash would lose it
	if u := h.lastUsage(call(), id).KeyLastUsage; u.Operation != "" {
		t.Fatalf("an unflushed use survived a restart: %+v", u)
	}
	used("req-2")
	h.clock.Add(time.Second)
	used("req-3")
	if n, err := h.svc.FlushLastUsage(ctx); n != 1 || err != nil {
		t.Fatalf("FlushLastUsage = %d, %v; want 1", n, err)
	}
	if n, err := h.svc.FlushLastUsage(ctx); n != 0 || err != nil {
		t.Fatalf("a second flush wrote %d, %v", n, err)
	}
	at := h.clock.Now()
	h.reopen()
	wantUse(t, h.lastUsage(call(), id), "Encrypt", "req-3", at)

	// A deleted key's usage goes with it, and a use not yet written when
	// the key went is not written after.
	used("req-4")
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(7 * day)
	h.deleteDue(1)
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	err := h.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(keyuse.BucketLastUsage, []byte("111122223333/"), nil, 0)
		if len(kvs) != 0 {
			return fmt.Errorf("%d usage records left", len(kvs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// steppingClock moves a nanosecond forward on every reading, so every use
// has its own time.
type steppingClock struct{ n atomic.Int64 }

func (c *steppingClock) Now() time.Time {
	return time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(c.n.Add(1)))
}

// TestLastUsageConcurrentRecording runs uses, flushes and reads at once
// (run it with -race) and checks the newest use wins in memory and on disk,
// with the uses written in place, and written as runs and merged.
func TestLastUsageConcurrentRecording(t *testing.T) {
	t.Run("in place", func(t *testing.T) { testConcurrentRecording(t, false) })
	t.Run("runs", func(t *testing.T) { testConcurrentRecording(t, true) })
}

func testConcurrentRecording(t *testing.T, runs bool) {
	h := newHarness(t)
	ctx := context.Background()
	clock := &steppingClock{}
	h.svc.clock = clock
	if runs {
		h.useRuns(1, 3)
	}
	ids := []string{h.createKey(), h.createKey()}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.svc.FlushLastUsage(ctx); err != nil {
					t.Error(err)
					return
				}
				for _, id := range ids {
					if _, err := h.svc.GetKeyLastUsage(ctx, call(), &kmsapi.GetKeyLastUsageInput{KeyId: id}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	var users sync.WaitGroup
	for g := range 16 {
		users.Add(1)
		go func() {
			defer users.Done()
			for i := range 50 {
				c := call()
				c.RequestID = fmt.Sprintf("g%d-%d", g, i)
				c.EventID = "ev-" + c.RequestID
				if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: ids[i%2], Plaintext: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	users.Wait()
	// One more use of each key, after all the others: it is the newest.
	for _, id := range ids {
		c := call()
		c.RequestID = "final-" + id
		c.EventID = "ev-" + c.RequestID
		if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		mem := h.lastUsage(call(), id).KeyLastUsage
		h.svc.usage.Forget(string(keyKey("111122223333", east, id)))
		disk := h.lastUsage(call(), id).KeyLastUsage
		if mem.KmsRequestId != "final-"+id || disk.KmsRequestId != mem.KmsRequestId || disk.Operation != mem.Operation || !time.Time(*disk.Timestamp).Equal(time.Time(*mem.Timestamp)) {
			t.Fatalf("key %s: in memory %+v, on disk %+v", id, mem, disk)
		}
	}
}

// TestFlushedUsesLeaveTheTracker: once its use is flushed a key's slot
// leaves the tracker, and GetKeyLastUsage reads the use from the store.
func TestFlushedUsesLeaveTheTracker(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	c := call()
	c.RequestID, c.EventID = uuid.New(), uuid.New()
	if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	at := h.clock.Now()
	if n, err := h.svc.FlushLastUsage(ctx); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v; want 1 use written", n, err)
	}
	if n := h.svc.usage.Held(); n != 0 {
		t.Fatalf("%d usage slots kept after the flush", n)
	}
	u := h.lastUsage(call(), id).KeyLastUsage
	if u == nil || u.KmsRequestId != c.RequestID || u.CloudTrailEventId != c.EventID || !time.Time(*u.Timestamp).Equal(at) {
		t.Fatalf("last usage %+v after its slot left, want the flushed use at %v", u, at)
	}
	// The next use takes a slot again, through the cached key.
	h.clock.Add(time.Second)
	if _, err := trackedEncrypt(h.svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if u := h.lastUsage(call(), id).KeyLastUsage; !time.Time(*u.Timestamp).Equal(h.clock.Now()) {
		t.Fatalf("last usage %+v, want the use after the flush", u)
	}
}

// Past Limits.FlushAt keys with unwritten uses the tracker asks for a
// flush once, and the count follows the slots as flushes and deleted keys
// remove them.
func TestManyUnwrittenUsesAskForAFlush(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.svc.usage = h.svc.usageTracker(keyuse.Limits{FlushAt: 3})
	ids := []string{h.createKey(), h.createKey(), h.createKey(), h.createKey(), h.createKey()}
	use := func(id string) {
		t.Helper()
		if _, err := trackedEncrypt(h.svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	due := func() bool {
		select {
		case <-h.svc.LastUsageDue():
			return true
		default:
			return false
		}
	}
	use(ids[0])
	use(ids[1])
	use(ids[0]) // the same key again: still two
	if due() {
		t.Fatal("due with two keys pending, flushAt 3")
	}
	use(ids[2])
	use(ids[3])
	if !due() {
		t.Fatal("not due with four keys pending, flushAt 3")
	}
	if due() {
		t.Fatal("due twice for one crossing")
	}
	// A flush has taken the signal; a new key while the count is still
	// over the bound asks again, so the next flush follows at once.
	use(ids[4])
	if !due() {
		t.Fatal("not due for a new key with five pending, flushAt 3")
	}
	use(ids[4])
	if due() {
		t.Fatal("due again for a key already pending")
	}
	h.svc.usage.Forget(partition("111122223333", "us-east-1") + ids[3])
	h.svc.usage.Forget(partition("111122223333", "us-east-1") + ids[4])
	if n, want := h.svc.usage.Pending(), int64(h.svc.usage.Held()); n != want || n != 3 {
		t.Fatalf("count %d with %d slots, want 3", n, want)
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.svc.usage.Pending(); n != 0 {
		t.Fatalf("count %d after the flush, want 0", n)
	}
	for _, id := range ids[:3] {
		use(id)
	}
	if !due() {
		t.Fatal("not due when three keys are pending again")
	}
}
