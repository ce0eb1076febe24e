package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// notingStore records the cache entries its committed writes make stale,
// as the cluster layer sends them to the other nodes.
type notingStore struct {
	store.Store
	mu    sync.Mutex
	stale []string
}

type notingTx struct {
	store.Tx
	keys *[]string
}

func (t notingTx) Put(b, k, v []byte) error {
	*t.keys = append(*t.keys, identity.CacheKeysOf(b, k)...)
	return t.Tx.Put(b, k, v)
}

func (t notingTx) Delete(b, k []byte) error {
	*t.keys = append(*t.keys, identity.CacheKeysOf(b, k)...)
	return t.Tx.Delete(b, k)
}

func (s *notingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var keys []string
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		keys = keys[:0]
		return fn(notingTx{tx, &keys})
	})
	if err == nil {
		s.mu.Lock()
		s.stale = append(s.stale, keys...)
		s.mu.Unlock()
	}
	return err
}

func (s *notingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.stale
	s.stale = nil
	return k
}

// TestCacheKeysOfStalesAnotherNodesCredentials: node B caches a credential
// and a user's policies; node A deletes the key and changes the policy. B
// keeps its copies until it drops the entries A's writes name. With the
// gate shut, B reads the store and sees the change without being told.
func TestCacheKeysOfStalesAnotherNodesCredentials(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	noting := &notingStore{Store: st}
	a := identity.New(identity.Config{Store: noting, Sealer: sl})
	b := identity.New(identity.Config{Store: st, Sealer: sl})
	if err := a.Init(bg, acct); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	akid, _, err := a.CreateAccessKey(bg, acct, "alice")
	if err != nil {
		t.Fatal(err)
	}
	doc := func(action string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`
	}
	if err := a.PutUserPolicy(bg, acct, "alice", "p", doc("kms:Encrypt")); err != nil {
		t.Fatal(err)
	}
	noting.take()
	arn := "arn:aws:iam::" + acct + ":user/alice"
	if _, err := b.Credential(bg, akid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IdentityPolicies(bg, arn); err != nil {
		t.Fatal(err)
	}

	if err := a.PutUserPolicy(bg, acct, "alice", "p", doc("kms:Decrypt")); err != nil {
		t.Fatal(err)
	}
	if docs, _ := b.IdentityPolicies(bg, arn); len(docs) != 1 || docs[0] != doc("kms:Encrypt") {
		t.Fatalf("node B before the invalidation: %q (the test needs B to have cached the policy)", docs)
	}
	b.InvalidateCache(noting.take()...)
	if docs, _ := b.IdentityPolicies(bg, arn); len(docs) != 1 || docs[0] != doc("kms:Decrypt") {
		t.Fatalf("node B after the invalidation: %q", docs)
	}

	if _, err := b.Credential(bg, akid); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAccessKey(bg, acct, "alice", akid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Credential(bg, akid); err != nil {
		t.Fatalf("node B before the invalidation: %v (the test needs B to have cached the key)", err)
	}
	b.InvalidateCache(noting.take()...)
	if _, err := b.Credential(bg, akid); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("node B after the invalidation: %v, want ErrUnknownAccessKey", err)
	}

	// The gate: B caches a new key, A deletes it, and B with its gate
	// shut reads the store instead of its entry.
	akid2, _, err := a.CreateAccessKey(bg, acct, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Credential(bg, akid2); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAccessKey(bg, acct, "alice", akid2); err != nil {
		t.Fatal(err)
	}
	b.GateCache(func() bool { return false })
	if _, err := b.Credential(bg, akid2); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("node B with its gate shut: %v, want ErrUnknownAccessKey", err)
	}
}
