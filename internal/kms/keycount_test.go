package kms

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// KeysByState counts every key of every account and Region by its state,
// as DescribeKey would report it.
func TestKeysByState(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if got, err := h.svc.KeysByState(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v; want no keys", got, err)
	}
	for range 3 {
		h.createKey()
	}
	disabled, doomed := h.createKey(), h.createKey()
	other := &Call{Caller: RootCaller("444455556666", "eu-west-1")}
	if _, err := h.svc.CreateKey(ctx, other, &kmsapi.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: doomed}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{Origin: "EXTERNAL"}); err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.KeysByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{stateEnabled: 4, stateDisabled: 1, statePendingDeletion: 1, statePendingImport: 1}
	if !maps.Equal(got, want) {
		t.Errorf("KeysByState = %v, want %v", got, want)
	}
}

// A scrape reads the counts, never a key record: with a million keys,
// reading every record cost seconds of CPU per scrape.
func TestKeysByStateReadsNoKeyRecord(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.createKey()
	}
	cs := &countingStore{Store: h.st}
	got, err := h.service(cs, Limits{}).KeysByState(context.Background())
	if err != nil || got[stateEnabled] != 3 {
		t.Fatalf("KeysByState = %v, %v; want 3 Enabled", got, err)
	}
	if read, scans := cs.keyReads(); len(read) != 0 || scans != 0 {
		t.Errorf("KeysByState read key records %v and scanned the keys %d times, want neither", read, scans)
	}
}

// The counts kept by every change of a key equal a count of the records
// (the migration's) after creations, state changes and deletions, in
// several accounts and Regions, over more keys than one scan page.
func TestKeyStateCountsMatchTheRecords(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := make([]string, keyCountPage+5)
	for i := range ids {
		ids[i] = h.createKey()
	}
	other := &Call{Caller: RootCaller("444455556666", "eu-west-1")}
	for range 3 {
		if _, err := h.svc.CreateKey(ctx, other, &kmsapi.CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{Origin: "EXTERNAL"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:4] {
		if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:3] { // one Disabled key goes, one comes back
		if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: ids[2]}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[5:8] {
		if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(30)}); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Add(8 * 24 * time.Hour)
	if n, err := h.svc.DeleteDueKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys = %d, %v; want the one key due", n, err)
	}
	got, err := h.svc.KeysByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ids[1] deleted, ids[2] and [3] Disabled (a cancelled deletion leaves
	// its key Disabled), ids[5:8] pending deletion, the rest Enabled.
	want := map[string]int{stateEnabled: len(ids) - 6 + 3, stateDisabled: 2, statePendingDeletion: 3, statePendingImport: 1}
	if !maps.Equal(got, want) {
		t.Errorf("KeysByState = %v, want %v", got, want)
	}

	kept := stateCounts(t, h)
	err = h.st.Update(ctx, func(tx store.Tx) error {
		for k := range kept {
			if err := tx.Delete(bucketKeyStates, []byte(k)); err != nil {
				return err
			}
		}
		return CountKeysByState(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if counted := stateCounts(t, h); !maps.Equal(kept, counted) {
		t.Errorf("counts kept %v, counted from the records %v", kept, counted)
	}
}

// stateCounts returns the key-states bucket: partition|state → count.
func stateCounts(t *testing.T, h *harness) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := h.st.View(context.Background(), func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketKeyStates, nil, nil, 0)
		for _, kv := range kvs {
			_, n, err := decodeStateCount(kv)
			if err != nil {
				return err
			}
			m[string(kv.Key)] = n
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The cache counts a first lookup of a key as a miss and later ones as
// hits, until a write to the key invalidates it.
func TestCacheStatsCountHitsAndMisses(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	hits0, misses0 := h.svc.CacheStats()
	for range 3 {
		if _, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses := h.svc.CacheStats()
	if hits-hits0 != 2 || misses-misses0 != 1 {
		t.Errorf("3 Encrypts: %d hits %d misses, want 2 and 1", hits-hits0, misses-misses0)
	}
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, misses1 := h.svc.CacheStats()
	if _, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err == nil {
		t.Fatal("Encrypt with a disabled key succeeded")
	}
	if _, misses2 := h.svc.CacheStats(); misses2 != misses1+1 {
		t.Errorf("lookup after a write: misses %d → %d, want one more", misses1, misses2)
	}
}
