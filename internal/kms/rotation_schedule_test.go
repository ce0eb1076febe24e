package kms

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

func TestRotationJobReadsOnlyDueKeys(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for range 40 {
		ids = append(ids, h.createKey())
	}
	h.enableRotation(ids[7], 90)
	h.enableRotation(ids[20], 365)
	cs := &countingStore{Store: h.st}
	svc := h.serviceOver(cs)
	h.clock.Add(91 * day)
	if n, err := svc.RotateDueKeys(context.Background()); n != 1 || err != nil {
		t.Fatalf("RotateDueKeys = %d, %v", n, err)
	}
	if read, scans := cs.keyReads(); len(read) != 1 || scans != 0 {
		t.Fatalf("the job read key records %v and scanned the keys %d times to rotate one key", read, scans)
	}
}

func TestDisabledKeyRotatesWhenEnabledAgain(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	h.enableRotation(id, 90)
	due := h.rotationStatus(id).NextRotationDate.Time()
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(200 * day)
	h.rotateDue(0)
	st := h.rotationStatus(id)
	if !*st.KeyRotationEnabled || !st.NextRotationDate.Time().Equal(due) {
		t.Fatalf("disabled key status = %+v; disabling the key must not change it", st)
	}
	if _, err := h.svc.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	h.rotateDue(1) // overdue: rotates at once, and only once
	h.rotateDue(0)
	if next := h.rotationStatus(id).NextRotationDate.Time(); !next.Equal(h.clock.Now().Add(90 * day)) {
		t.Fatalf("next rotation %v, want a period from the late rotation (%v)", next, h.clock.Now().Add(90*day))
	}
}

func TestPendingDeletionSuspendsRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	h.enableRotation(id, 90)
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(30)}); err != nil {
		t.Fatal(err)
	}
	if st := h.rotationStatus(id); *st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != nil {
		t.Fatalf("status of a key pending deletion = %+v, want only KeyRotationEnabled false", st)
	}
	if _, err := h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if st := h.rotationStatus(id); !*st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 {
		t.Fatalf("after cancelling the deletion: %+v, want rotation enabled again", st)
	}

	// A key deleted while rotation is on leaves nothing behind.
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(100 * day)
	h.rotateDue(0)
	if n, err := h.svc.DeleteDueKeys(ctx); n != 1 || err != nil {
		t.Fatalf("DeleteDueKeys = %d, %v", n, err)
	}
	h.rotateDue(0)
	if _, index := h.rawState(h.createKey()); len(index) != 0 {
		t.Fatalf("rotation index keeps %d entries of a deleted key", len(index))
	}
}

func TestEnableKeyRotationChangesPeriodFromScheduleStart(t *testing.T) {
	h := newHarness(t)
	id := h.createKey()
	start := h.clock.Now()
	next := func() time.Time { return h.rotationStatus(id).NextRotationDate.Time() }
	h.enableRotation(id, 0)
	if got := next(); !got.Equal(start.Add(365 * day)) {
		t.Fatalf("default schedule: next %v, want %v", got, start.Add(365*day))
	}
	h.clock.Add(10 * day)
	h.enableRotation(id, 90)
	if got := next(); !got.Equal(start.Add(90 * day)) {
		t.Fatalf("new period: next %v, want %v", got, start.Add(90*day))
	}
	h.enableRotation(id, 90) // the same again changes nothing
	if got := next(); !got.Equal(start.Add(90 * day)) {
		t.Fatalf("repeated enable moved the schedule to %v", got)
	}
	h.clock.Add(50 * day)
	h.enableRotation(id, 0) // back to the default period
	if got := next(); !got.Equal(start.Add(365 * day)) {
		t.Fatalf("default period again: next %v, want %v", got, start.Add(365*day))
	}
	h.clock.Add(40 * day) // 100 days in: a 90-day period has passed
	h.enableRotation(id, 90)
	if got := next(); !got.Equal(h.clock.Now()) {
		t.Fatalf("shortened period already passed: next %v, want now (%v)", got, h.clock.Now())
	}
	_, index := h.rawState(id)
	if len(index) != 1 {
		t.Fatalf("%d index entries after changing the schedule, want 1", len(index))
	}
	h.rotateDue(1)

	if _, err := h.svc.DisableKeyRotation(context.Background(), call(), &kmsapi.DisableKeyRotationInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if st := h.rotationStatus(id); *st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != nil {
		t.Fatalf("after DisableKeyRotation: %+v", st)
	}
	if _, index := h.rawState(id); len(index) != 0 {
		t.Fatal("DisableKeyRotation left the key in the rotation index")
	}
	h.clock.Add(1000 * day)
	h.rotateDue(0)
}

func TestRotateKeyOnDemandConflictsWithDueAutomaticRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	h.enableRotation(id, 90)
	due := h.rotationStatus(id).NextRotationDate.Time()
	h.clock.Add(90*day - 21*time.Minute)
	if _, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatalf("on-demand rotation 21 minutes before an automatic one: %v", err)
	}
	if got := h.rotationStatus(id).NextRotationDate.Time(); !got.Equal(due) {
		t.Fatalf("on-demand rotation moved the schedule to %v", got)
	}
	h.clock.Add(2 * time.Minute)
	_, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
	wantCode(t, err, kmserr.Conflict)
	h.clock.Add(20 * time.Minute)
	_, err = h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
	wantCode(t, err, kmserr.Conflict) // due and not yet carried out
	h.rotateDue(1)
	if _, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
}

type eventList struct {
	mu     sync.Mutex
	events []*audit.Event
}

func (l *eventList) Append(ev *audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	return nil
}

func TestRotationJobRecordsRotateKeyEvents(t *testing.T) {
	h := newHarness(t)
	id := h.createKey()
	h.enableRotation(id, 90)
	var sink eventList
	job := h.svc.RotationJob(&sink)
	h.clock.Add(90 * day)
	for range 2 {
		if n, err := job(context.Background()); err != nil || n > 1 {
			t.Fatalf("job = %d, %v", n, err)
		}
	}
	if len(sink.events) != 1 {
		t.Fatalf("%d events, want one RotateKey", len(sink.events))
	}
	ev := sink.events[0]
	arn := keyARN("us-east-1", "111122223333", id)
	if ev.EventName != "RotateKey" || ev.EventType != "AwsServiceEvent" || ev.UserIdentity.InvokedBy != "AWS Internal" ||
		ev.UserIdentity.AccountID != "111122223333" || ev.AWSRegion != "us-east-1" || ev.ReadOnly ||
		len(ev.Resources) != 1 || ev.Resources[0].ARN != arn || ev.RecipientAccountID != "111122223333" ||
		ev.AdditionalEventData["rotationType"] != "AUTOMATIC" || ev.AdditionalEventData["keyId"] != id ||
		ev.AdditionalEventData["keyMaterialId"] != h.currentMaterial(id) || !ev.EventTime.Equal(h.clock.Now()) {
		t.Fatalf("event = %+v", ev)
	}
}

// TestRotationOfImportedAndCustomKeyStoreKeys covers key kinds CreateKey
// does not make yet, by editing a stored record the way those features will.
func TestRotationOfImportedAndCustomKeyStoreKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	set := func(id, origin, state string) {
		t.Helper()
		_, err := h.svc.updateRecord(ctx, "111122223333", "us-east-1", id, ruleAny, func(_ store.Tx, r *keyRecord) error {
			r.Origin, r.KeyState = origin, state
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	enable := func(id string) error {
		_, err := h.svc.EnableKeyRotation(ctx, call(), &kmsapi.EnableKeyRotationInput{KeyId: id})
		return err
	}
	rotate := func(id string) error {
		_, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
		return err
	}
	list := func(id string) error {
		_, err := h.svc.ListKeyRotations(ctx, call(), &kmsapi.ListKeyRotationsInput{KeyId: id})
		return err
	}
	wantMessage := func(err error, code, msg string) {
		t.Helper()
		wantCode(t, err, code)
		if got := kmserr.As(err).Message; got != msg {
			t.Fatalf("%s message %q, want %q", code, got, msg)
		}
	}

	imported := h.createKey()
	arn := keyARN("us-east-1", "111122223333", imported)
	set(imported, "EXTERNAL", statePendingImport)
	wantMessage(rotate(imported), kmserr.InvalidState, arn+" is pending import.")
	set(imported, "EXTERNAL", stateEnabled)
	wantMessage(enable(imported), kmserr.UnsupportedOperation, arn+" origin is EXTERNAL which is not valid for this operation.")
	wantMessage(rotate(imported), kmserr.InvalidState, "No available key material pending rotation for the key: "+arn+".")
	if err := list(imported); err != nil {
		t.Fatalf("ListKeyRotations of a key with imported material: %v", err)
	}
	if st := h.rotationStatus(imported); *st.KeyRotationEnabled {
		t.Fatal("a key with imported material reports automatic rotation")
	}

	hsm := h.createKey()
	arn = keyARN("us-east-1", "111122223333", hsm)
	set(hsm, "AWS_CLOUDHSM", stateEnabled)
	msg := arn + " origin is AWS_CLOUDHSM which is not valid for this operation."
	wantMessage(enable(hsm), kmserr.UnsupportedOperation, msg)
	wantMessage(rotate(hsm), kmserr.UnsupportedOperation, msg)
	wantMessage(list(hsm), kmserr.UnsupportedOperation, msg)
	if st := h.rotationStatus(hsm); *st.KeyRotationEnabled {
		t.Fatal("a key in a custom key store reports automatic rotation")
	}
}

func TestConcurrentOnDemandRotationsStopAtTheQuota(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	var wg sync.WaitGroup
	var ok, limited atomic.Int32
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
			switch kmserr.CodeOf(err) {
			case kmserr.LimitExceeded:
				limited.Add(1)
			default:
				if err != nil {
					t.Errorf("RotateKeyOnDemand: %v", err)
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != maxOnDemandRotations || limited.Load() != 40-maxOnDemandRotations {
		t.Fatalf("%d rotations and %d refusals, want %d and %d", ok.Load(), limited.Load(), maxOnDemandRotations, 40-maxOnDemandRotations)
	}
	list := h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial)
	if len(list) != maxOnDemandRotations+1 || list[len(list)-1].KeyMaterialId != h.currentMaterial(id) {
		t.Fatalf("%d materials, last %s; want %d, the last current", len(list), list[len(list)-1].KeyMaterialId, maxOnDemandRotations+1)
	}
}
