package kms

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
)

const day = 24 * time.Hour

func (h *harness) enableRotation(id string, period int32) {
	h.t.Helper()
	in := &kmsapi.EnableKeyRotationInput{KeyId: id}
	if period != 0 {
		in.RotationPeriodInDays = kmsapi.Int32(period)
	}
	if _, err := h.svc.EnableKeyRotation(context.Background(), call(), in); err != nil {
		h.t.Fatalf("EnableKeyRotation: %v", err)
	}
}

func (h *harness) rotationStatus(id string) *kmsapi.GetKeyRotationStatusOutput {
	h.t.Helper()
	out, err := h.svc.GetKeyRotationStatus(context.Background(), call(), &kmsapi.GetKeyRotationStatusInput{KeyId: id})
	if err != nil {
		h.t.Fatalf("GetKeyRotationStatus: %v", err)
	}
	return out
}

func (h *harness) currentMaterial(id string) string {
	h.t.Helper()
	out, err := h.svc.DescribeKey(context.Background(), call(), &kmsapi.DescribeKeyInput{KeyId: id})
	if err != nil {
		h.t.Fatalf("DescribeKey: %v", err)
	}
	return out.KeyMetadata.CurrentKeyMaterialId
}

func (h *harness) rotations(id string, include kmsapi.IncludeKeyMaterial) []kmsapi.RotationsListEntry {
	h.t.Helper()
	out, err := h.svc.ListKeyRotations(context.Background(), call(), &kmsapi.ListKeyRotationsInput{KeyId: id, IncludeKeyMaterial: include})
	if err != nil {
		h.t.Fatalf("ListKeyRotations: %v", err)
	}
	return out.Rotations
}

func (h *harness) rotateDue(want int) {
	h.t.Helper()
	n, err := h.svc.RotateDueKeys(context.Background())
	if err != nil || n != want {
		h.t.Fatalf("RotateDueKeys = %d, %v; want %d", n, err, want)
	}
}

// rawState is everything the store holds about one key's rotation: its
// record and its entries in the rotation index.
func (h *harness) rawState(id string) (record []byte, index []store.KV) {
	h.t.Helper()
	err := h.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		if record, err = tx.Get(bucketKeys, keyKey("111122223333", "us-east-1", id)); err != nil {
			return err
		}
		index, err = tx.Scan(bucketRotations, nil, nil, 0)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return record, index
}

func TestRotateKeyOnDemandKeepsEveryVersion(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	type version struct {
		material string
		blob     []byte
	}
	var versions []version
	for i := range 4 {
		if i > 0 {
			h.clock.Add(time.Hour)
			out, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
			if err != nil {
				t.Fatal(err)
			}
			if want := keyARN("us-east-1", "111122223333", id); out.KeyId != want {
				t.Fatalf("RotateKeyOnDemand KeyId = %q, want the key ARN", out.KeyId)
			}
		}
		enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, version{h.currentMaterial(id), enc.CiphertextBlob})
	}
	seen := map[string]bool{}
	for _, v := range versions {
		if seen[v.material] {
			t.Fatalf("material %s current twice; rotation did not make new material", v.material)
		}
		seen[v.material] = true
	}
	check := func() {
		t.Helper()
		for i, v := range versions {
			dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: v.blob})
			if err != nil || !bytes.Equal(dec.Plaintext, []byte{byte(i)}) {
				t.Fatalf("decrypt version %d: %v", i, err)
			}
			if dec.KeyMaterialId != v.material {
				t.Fatalf("version %d decrypted with material %s, want %s", i, dec.KeyMaterialId, v.material)
			}
		}
	}
	check()
	h.reopen()
	check()

	list := h.rotations(id, "")
	if len(list) != 3 {
		t.Fatalf("ListKeyRotations: %d entries, want 3", len(list))
	}
	for i, e := range list {
		if e.KeyMaterialId != versions[i+1].material || e.RotationType != kmsapi.RotationTypeOnDemand || e.RotationDate == nil {
			t.Fatalf("entry %d = %+v, want the on-demand rotation to %s", i, e, versions[i+1].material)
		}
		wantState := kmsapi.KeyMaterialStateNonCurrent
		if i == 2 {
			wantState = kmsapi.KeyMaterialStateCurrent
		}
		if e.KeyMaterialState != wantState {
			t.Fatalf("entry %d state %s, want %s", i, e.KeyMaterialState, wantState)
		}
	}
	all := h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial)
	if len(all) != 4 || all[0].KeyMaterialId != versions[0].material || all[0].RotationDate != nil || all[0].RotationType != "" {
		t.Fatalf("ALL_KEY_MATERIAL = %+v, want the first material (no rotation date or type) first", all)
	}
}

func TestAutomaticRotationOncePerDueDate(t *testing.T) {
	h := newHarness(t)
	id := h.createKey()
	other := h.createKey() // never rotates
	first := h.currentMaterial(id)
	enabledAt := h.clock.Now()
	h.enableRotation(id, 90)
	st := h.rotationStatus(id)
	if !*st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Time().Equal(enabledAt.Add(90*day)) {
		t.Fatalf("status = %+v, want enabled, 90 days, next %v", st, enabledAt.Add(90*day))
	}

	h.clock.Add(90*day - time.Second)
	h.rotateDue(0)
	h.clock.Add(time.Second)
	h.reopen() // the schedule survives a restart
	h.rotateDue(1)
	h.rotateDue(0)
	h.reopen()
	h.rotateDue(0) // and a restart after the rotation does not repeat it
	second := h.currentMaterial(id)
	if second == first {
		t.Fatal("automatic rotation left the material unchanged")
	}
	if st := h.rotationStatus(id); !st.NextRotationDate.Time().Equal(enabledAt.Add(180 * day)) {
		t.Fatalf("next rotation %v, want one period after the due date (%v)", st.NextRotationDate.Time(), enabledAt.Add(180*day))
	}

	// The job runs late: the next date still follows the schedule.
	h.clock.Add(90*day + 6*time.Hour)
	h.rotateDue(1)
	if st := h.rotationStatus(id); !st.NextRotationDate.Time().Equal(enabledAt.Add(270 * day)) {
		t.Fatalf("next rotation %v, want %v", st.NextRotationDate.Time(), enabledAt.Add(270*day))
	}
	list := h.rotations(id, "")
	if len(list) != 2 || list[0].KeyMaterialId != second || list[0].RotationType != kmsapi.RotationTypeAutomatic || list[1].RotationType != kmsapi.RotationTypeAutomatic {
		t.Fatalf("rotations = %+v, want two AUTOMATIC", list)
	}
	if h.currentMaterial(other) == "" || len(h.rotations(other, "")) != 0 {
		t.Fatal("a key without automatic rotation was rotated")
	}
}

// failingStore runs each Update's function and then, while failing is set,
// aborts the transaction as a crash or a failed commit would.
type failingStore struct {
	store.Store
	failing atomic.Bool
	updates atomic.Int32
}

var errCommit = errors.New("injected commit failure")

func (s *failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.failing.Load() {
			return errCommit
		}
		s.updates.Add(1)
		return nil
	})
}

func (h *harness) serviceOver(st store.Store) *Service {
	h.t.Helper()
	sl, err := seal.OpenFile(filepath.Join(h.dir, "root.key"))
	if err != nil {
		h.t.Fatal(err)
	}
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: AccountOwner{}, Clock: h.clock})
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

// TestRotationFailedCommitChangesNothing shows that a rotation is all or
// nothing: when the transaction that adds the material, makes it current and
// moves the schedule does not commit, the key is exactly as before, and the
// next run rotates it once.
func TestRotationFailedCommitChangesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(), h.createKey()
	h.enableRotation(a, 90)
	h.clock.Add(time.Second)
	h.enableRotation(b, 90)
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: a, Plaintext: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	recA, index := h.rawState(a)
	recB, _ := h.rawState(b)
	fs := &failingStore{Store: h.st}
	svc := h.serviceOver(fs)
	materialA := h.currentMaterial(a)
	if _, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: a}); err != nil {
		t.Fatal(err) // warm svc's cache with the key as it is
	}

	// On-demand rotation whose commit fails.
	fs.failing.Store(true)
	_, err = svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: a})
	wantCode(t, err, kmserr.Internal)

	// Automatic rotation whose commit fails.
	h.clock.Add(90 * day)
	if n, err := svc.RotateDueKeys(ctx); n != 0 || !errors.Is(err, errCommit) {
		t.Fatalf("RotateDueKeys with failing commits = %d, %v", n, err)
	}
	gotA, gotIndex := h.rawState(a)
	gotB, _ := h.rawState(b)
	if !bytes.Equal(gotA, recA) || !bytes.Equal(gotB, recB) || len(gotIndex) != len(index) {
		t.Fatal("a failed rotation changed the stored key or its schedule")
	}
	for i := range index {
		if !bytes.Equal(gotIndex[i].Key, index[i].Key) {
			t.Fatal("a failed rotation moved the rotation index")
		}
	}
	d, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: a})
	if err != nil || d.KeyMetadata.CurrentKeyMaterialId != materialA {
		t.Fatalf("after failed rotations the service shows material %v (%v), want %s", d, err, materialA)
	}

	// The process dies midway: the first key's rotation commits, the
	// second's does not. After the restart each key rotates exactly once.
	fs.failing.Store(false)
	fs.updates.Store(0)
	half := &stopAfter{failingStore: fs, allowed: 1}
	svc = h.serviceOver(half)
	if n, err := svc.RotateDueKeys(ctx); n != 1 || !errors.Is(err, errCommit) {
		t.Fatalf("RotateDueKeys cut short = %d, %v; want 1 rotation and the failure", n, err)
	}
	h.reopen()
	h.rotateDue(1)
	h.rotateDue(0)
	for _, id := range []string{a, b} {
		if list := h.rotations(id, ""); len(list) != 1 || list[0].RotationType != kmsapi.RotationTypeAutomatic {
			t.Fatalf("key %s has rotations %+v, want exactly one automatic", id, list)
		}
	}
	dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "before" || dec.KeyMaterialId != materialA {
		t.Fatalf("decrypt after rotation: %v", err)
	}
}

// stopAfter lets the first allowed Updates commit and fails every later one.
type stopAfter struct {
	*failingStore
	allowed int32
	mu      sync.Mutex
}

func (s *stopAfter) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failingStore.failing.Store(s.failingStore.updates.Load() >= s.allowed)
	return s.failingStore.Update(ctx, fn)
}
