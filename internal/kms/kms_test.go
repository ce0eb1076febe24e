package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type harness struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	st    *bolt.Store
	svc   *Service
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := bolt.Open(filepath.Join(h.dir, "kmsd.db"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.st, h.svc = st, h.service(st, Limits{})
	h.t.Cleanup(func() { _ = st.Close() })
}

// service returns a Service on st with the harness's root key and clock
// and the given limits (zero: AWS's defaults).
func (h *harness) service(st store.Store, lim Limits) *Service {
	h.t.Helper()
	sl, err := seal.OpenFile(filepath.Join(h.dir, "root.key"))
	if err != nil {
		h.t.Fatal(err)
	}
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: AccountOwner{}, Clock: h.clock, Limits: lim})
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

func (h *harness) reopen() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func call() *Call { return &Call{Caller: RootCaller("111122223333", "us-east-1")} }

func (h *harness) createKey() string {
	h.t.Helper()
	out, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{Description: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := kmserr.CodeOf(err); err == nil || got != code {
		t.Fatalf("got error %v, want %s", err, code)
	}
}

func TestEncryptDecryptBindsContext(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	ec := map[string]string{"purpose": "test", "Tenant": "a"}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("hello"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"Tenant": "a", "purpose": "test"}})
	if err != nil || !bytes.Equal(dec.Plaintext, []byte("hello")) {
		t.Fatalf("decrypt: %v %q", err, dec)
	}
	for _, bad := range []map[string]string{nil, {"purpose": "test"}, {"purpose": "test", "tenant": "a"}, {"purpose": "Test", "Tenant": "a"}, {"purpose": "test", "Tenant": "a", "x": ""}} {
		_, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: bad})
		wantCode(t, err, kmserr.InvalidCiphertext)
	}
	other := h.createKey()
	_, err = h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: other})
	wantCode(t, err, kmserr.IncorrectKey)
}

func TestScheduledDeletionHappensWhenWindowEnds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/doomed", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: "alias/doomed", Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := h.clock.Now().Add(7 * 24 * time.Hour); !time.Time(*out.DeletionDate).Equal(want) {
		t.Fatalf("deletion date %v, want %v", time.Time(*out.DeletionDate), want)
	}
	_, err = h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantCode(t, err, kmserr.InvalidState)

	h.clock.Add(7*24*time.Hour - time.Second)
	if n, err := h.svc.DeleteDueKeys(ctx); err != nil || n != 0 {
		t.Fatalf("deleted %d keys a second early (err %v)", n, err)
	}
	h.clock.Add(time.Second)
	h.reopen() // the deletion index survives a restart
	if n, err := h.svc.DeleteDueKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys = %d, %v; want 1", n, err)
	}
	_, err = h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id})
	wantCode(t, err, kmserr.NotFound)
	_, err = h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: "alias/doomed"})
	wantCode(t, err, kmserr.NotFound)
	_, err = h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err == nil {
		t.Fatal("ciphertext of a deleted key still decrypts")
	}
	if n, _ := h.svc.DeleteDueKeys(ctx); n != 0 {
		t.Fatal("a second run deleted again")
	}
}

func TestCancelledDeletionIsNotCarriedOut(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	d, err := h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id})
	if err != nil || d.KeyMetadata.KeyState != stateDisabled || *d.KeyMetadata.Enabled {
		t.Fatalf("after cancel: %v %+v, want Disabled", err, d)
	}
	h.clock.Add(31 * 24 * time.Hour)
	if n, err := h.svc.DeleteDueKeys(ctx); err != nil || n != 0 {
		t.Fatalf("DeleteDueKeys = %d, %v after cancel", n, err)
	}
	_, err = h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: id})
	wantCode(t, err, kmserr.InvalidState)
}

func TestKeyStateRules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantCode(t, err, kmserr.Disabled)
	if _, err := h.svc.TagResource(ctx, call(), &kmsapi.TagResourceInput{KeyId: id, Tags: []kmsapi.Tag{{TagKey: "a", TagValue: "b"}}}); err != nil {
		t.Fatalf("tagging a disabled key: %v", err)
	}
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"EnableKey": func() error { _, err := h.svc.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: id}); return err },
		"UpdateKeyDescription": func() error {
			_, err := h.svc.UpdateKeyDescription(ctx, call(), &kmsapi.UpdateKeyDescriptionInput{KeyId: id, Description: "x"})
			return err
		},
		"CreateAlias": func() error {
			_, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/x", TargetKeyId: id})
			return err
		},
		"ScheduleKeyDeletion": func() error {
			_, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := h.svc.GenerateDataKey(ctx, call(), &kmsapi.GenerateDataKeyInput{KeyId: id, KeySpec: "AES_256"})
			return err
		},
	} {
		if err := f(); kmserr.CodeOf(err) != kmserr.InvalidState {
			t.Errorf("%s on a key pending deletion: %v, want KMSInvalidStateException", name, err)
		}
	}
	if _, err := h.svc.GetKeyPolicy(ctx, call(), &kmsapi.GetKeyPolicyInput{KeyId: id}); err != nil {
		t.Errorf("GetKeyPolicy on a key pending deletion: %v", err)
	}
}

func TestRestartKeepsKeysAndMaterial(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("survives")})
	if err != nil {
		t.Fatal(err)
	}
	h.reopen()
	dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "survives" {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestConcurrentCreateAliasOneWins(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/race", TargetKeyId: id})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch kmserr.CodeOf(err) {
		case kmserr.AlreadyExists:
		default:
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d CreateAlias calls succeeded, want exactly 1", ok)
	}
}

func TestSeedIsIdempotentAndReproducible(t *testing.T) {
	ctx := context.Background()
	material := bytes.Repeat([]byte{7}, 32)
	sk := SeedKey{AccountID: "111122223333", Region: "us-east-1", KeyID: "11111111-2222-3333-4444-555555555555",
		Material: material, Aliases: []string{"alias/seeded"}, Tags: map[string]string{"env": "ci"}}
	a, b := newHarness(t), newHarness(t)
	for i, want := range []bool{true, false} {
		created, err := a.svc.Seed(ctx, sk)
		if err != nil || created != want {
			t.Fatalf("seed run %d: created=%v err=%v", i, created, err)
		}
	}
	if _, err := b.svc.Seed(ctx, sk); err != nil {
		t.Fatal(err)
	}
	enc, err := a.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: "alias/seeded", Plaintext: []byte("portable")})
	if err != nil {
		t.Fatal(err)
	}
	// Another kmsd seeded with the same material (and another root key) decrypts it.
	dec, err := b.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "portable" {
		t.Fatalf("decrypt in the second seeded kmsd: %v", err)
	}
	tags, err := a.svc.ListResourceTags(ctx, call(), &kmsapi.ListResourceTagsInput{KeyId: sk.KeyID})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("tags after two seed runs: %v %+v", err, tags)
	}
	sk.Material = bytes.Repeat([]byte{8}, 32)
	if _, err := a.svc.Seed(ctx, sk); err == nil {
		t.Fatal("re-seeding with different material succeeded")
	}
}

func TestStoreIsUselessWithAnotherRootKey(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(h.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := seal.OpenFile(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Store: st, Sealer: other, Authorizer: AccountOwner{}, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantCode(t, err, kmserr.Internal)
}

// TestDataFileHoldsNoKeyMaterial seeds a key with recognisable material and
// scans the store file for it in every encoding a leak could take.
func TestDataFileHoldsNoKeyMaterial(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	canary := []byte("CANARY-material-0123456789abcdef") // 32 bytes
	sk := SeedKey{AccountID: "111122223333", Region: "us-east-1", KeyID: "22222222-3333-4444-5555-666666666666", Material: bytes.Clone(canary)}
	if _, err := h.svc.Seed(ctx, sk); err != nil {
		t.Fatal(err)
	}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: sk.KeyID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range [][]byte{canary, []byte(hex.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(canary)[:40])} {
		if bytes.Contains(data, form) {
			t.Fatalf("the store file contains the key material (%q)", form[:8])
		}
	}
	// The material was really used: a fresh kmsd seeded with it decrypts.
	other := newHarness(t)
	sk.Material = bytes.Clone(canary)
	if _, err := other.svc.Seed(ctx, sk); err != nil {
		t.Fatal(err)
	}
	if _, err := other.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("decrypt with the same material elsewhere: %v", err)
	}
}

// TestDecryptWithAnotherAccountsKeyARN resolves the named key in its own
// account, so the authorizer (not a lookup in the caller's account) decides.
func TestDecryptWithAnotherAccountsKeyARN(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	other := &Call{Caller: RootCaller("444455556666", "us-east-1")}
	arn := keyARN("us-east-1", "111122223333", id)
	_, err = h.svc.Decrypt(ctx, other, &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: arn})
	wantCode(t, err, kmserr.AccessDenied)
	if want := "arn:aws:iam::444455556666:root is not authorized to perform: kms:Decrypt on resource: " + arn; !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want the authorizer's denial naming %s", err, arn)
	}
	if len(other.Resources) != 1 || other.Resources[0] != arn {
		t.Fatalf("audit resources = %v, want the other account's key", other.Resources)
	}
}

// countingStore notes the key records read inside its transactions: the
// keys read one by one, and how many scans of the keys bucket there were.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	read  map[string]bool
	scans int
}

// keyReads returns the keys read one by one, sorted, and the scans.
func (s *countingStore) keyReads() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.read)), s.scans
}

func (s *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(countingTx{tx, s}) })
}

func (s *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(countingTx{tx, s}) })
}

type countingTx struct {
	store.Tx
	s *countingStore
}

func (t countingTx) Get(bucket, key []byte) ([]byte, error) {
	if bytes.Equal(bucket, bucketKeys) {
		t.s.mu.Lock()
		if t.s.read == nil {
			t.s.read = map[string]bool{}
		}
		t.s.read[string(key)] = true
		t.s.mu.Unlock()
	}
	return t.Tx.Get(bucket, key)
}

func (t countingTx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	if bytes.Equal(bucket, bucketKeys) {
		t.s.mu.Lock()
		t.s.scans++
		t.s.mu.Unlock()
	}
	return t.Tx.Scan(bucket, prefix, after, limit)
}
