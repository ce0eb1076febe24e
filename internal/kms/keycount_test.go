package kms

import (
	"context"
	"maps"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
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

// More keys than one scan page are all counted.
func TestKeysByStateCountsPastOnePage(t *testing.T) {
	h := newHarness(t)
	for range keyCountPage + 1 {
		h.createKey()
	}
	got, err := h.svc.KeysByState(context.Background())
	if err != nil || got[stateEnabled] != keyCountPage+1 {
		t.Errorf("KeysByState = %v, %v; want %d Enabled", got, err, keyCountPage+1)
	}
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
