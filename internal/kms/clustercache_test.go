package kms

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
)

// recordingStore notes the records its transactions write, as the cluster
// layer does to name the stale cache entries in its notification.
type recordingStore struct {
	store.Store
	mu     sync.Mutex
	writes [][2][]byte
}

type recordingTx struct {
	store.Tx
	writes *[][2][]byte
}

func (t recordingTx) Put(b, k, v []byte) error {
	*t.writes = append(*t.writes, [2][]byte{b, k})
	return t.Tx.Put(b, k, v)
}

func (t recordingTx) Delete(b, k []byte) error {
	*t.writes = append(*t.writes, [2][]byte{b, k})
	return t.Tx.Delete(b, k)
}

func (s *recordingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var w [][2][]byte
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		w = w[:0]
		return fn(recordingTx{tx, &w})
	})
	if err == nil {
		s.mu.Lock()
		s.writes = append(s.writes, w...)
		s.mu.Unlock()
	}
	return err
}

// stale returns the cache keys of the writes since the last call.
func (s *recordingStore) stale() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for _, w := range s.writes {
		keys = append(keys, CacheKeysOf(w[0], w[1])...)
	}
	s.writes = nil
	return keys
}

// twoNodes returns the harness's Service as node A, writing through a
// recording store, and a second Service on the same store as node B.
func twoNodes(t *testing.T) (h *harness, rec *recordingStore, b *Service) {
	t.Helper()
	h = newHarness(t)
	sl, err := seal.OpenFile(h.dir + "/root.key")
	if err != nil {
		t.Fatal(err)
	}
	rec = &recordingStore{Store: h.st}
	if h.svc, err = New(Config{Store: rec, Sealer: sl, Authorizer: AccountOwner{}, Clock: h.clock}); err != nil {
		t.Fatal(err)
	}
	if b, err = New(Config{Store: h.st, Sealer: sl, Authorizer: AccountOwner{}, Clock: h.clock}); err != nil {
		t.Fatal(err)
	}
	return h, rec, b
}

func encryptOn(s *Service, keyID string) error {
	_, err := s.Encrypt(context.Background(), call(), &kmsapi.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
	return err
}

// TestCacheKeysOfStalesWhatAnotherNodeCached: node B caches a key, node A
// changes it; B keeps serving its copy until it drops the entries that A's
// writes name, and then sees the change. This pins CacheKeysOf to the
// records each kind of change writes.
func TestCacheKeysOfStalesWhatAnotherNodeCached(t *testing.T) {
	ctx := context.Background()
	h, rec, b := twoNodes(t)
	a := h.svc
	keyID := h.createKey()
	other := h.createKey()
	if _, err := a.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/app", TargetKeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	rec.stale()

	// Disable: a key record.
	if err := encryptOn(b, keyID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	if err := encryptOn(b, keyID); err != nil {
		t.Fatalf("node B before the invalidation: %v (the test needs B to have cached the key)", err)
	}
	b.InvalidateCache(rec.stale()...)
	wantCode(t, encryptOn(b, keyID), kmserr.Disabled)
	if _, err := a.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	b.InvalidateCache(rec.stale()...)

	// Alias moved: B resolves it to the new key, and kms:ResourceAliases
	// of the key it left no longer names it.
	if err := encryptOn(b, "alias/app"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateAlias(ctx, call(), &kmsapi.UpdateAliasInput{AliasName: "alias/app", TargetKeyId: other}); err != nil {
		t.Fatal(err)
	}
	b.InvalidateCache(rec.stale()...)
	out, err := b.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: "alias/app", Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if !containsKeyID(out.KeyId, other) {
		t.Fatalf("alias/app on node B encrypts under %s, want %s", out.KeyId, other)
	}
	k, err := b.key(ctx, "111122223333", "us-east-1", keyID)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.conds["kms:resourcealiases"]; slices.Contains(got, "alias/app") {
		t.Fatalf("kms:ResourceAliases of the key the alias left = %q on node B", got)
	}

	// Grant revoked: a grant record.
	g, err := a.CreateGrant(ctx, call(), &kmsapi.CreateGrantInput{KeyId: keyID, GranteePrincipal: "arn:aws:iam::111122223333:root", Operations: []kmsapi.GrantOperation{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	b.InvalidateCache(rec.stale()...)
	if k, err = b.key(ctx, "111122223333", "us-east-1", keyID); err != nil || !hasGrant(k, g.GrantId) {
		t.Fatalf("node B does not see the new grant: %v", err)
	}
	if _, err := a.RevokeGrant(ctx, call(), &kmsapi.RevokeGrantInput{KeyId: keyID, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	b.InvalidateCache(rec.stale()...)
	if k, err = b.key(ctx, "111122223333", "us-east-1", keyID); err != nil || hasGrant(k, g.GrantId) {
		t.Fatalf("node B still holds the revoked grant: %v", err)
	}
}

func hasGrant(k *cachedKey, id string) bool { return k.grants != nil && k.grants.byID[id] != nil }

func containsKeyID(arn, keyID string) bool {
	return len(arn) >= len(keyID) && arn[len(arn)-len(keyID):] == keyID
}

// TestGateBypassesTheCache: with the gate shut, every lookup reads the
// store, so a change nobody announced is seen at once; FlushCache drops
// what was cached.
func TestGateBypassesTheCache(t *testing.T) {
	ctx := context.Background()
	h, _, b := twoNodes(t)
	keyID := h.createKey()
	if err := encryptOn(b, keyID); err != nil {
		t.Fatal(err)
	}
	var open bool
	b.GateCache(func() bool { return open })
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: keyID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, encryptOn(b, keyID), kmserr.Disabled)
	if _, ok := b.cache.peek(cacheKeyID("111122223333", "us-east-1", keyID)); !ok {
		t.Fatal("the test needs B's stale entry to still be in the map")
	}
	open = true
	b.FlushCache()
	if _, ok := b.cache.peek(cacheKeyID("111122223333", "us-east-1", keyID)); ok {
		t.Fatal("FlushCache left an entry")
	}
	wantCode(t, encryptOn(b, keyID), kmserr.Disabled)
}
