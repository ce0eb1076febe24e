package kms

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// clockedPolicyService is a Service deciding with PolicyAuthorizer, on a
// clock the test moves.
func clockedPolicyService(t *testing.T, ids fakeIdentities, clock *fakeClock) *Service {
	t.Helper()
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
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: PolicyAuthorizer{Identities: ids, Clock: clock}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func wantAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantRefused checks that an explicit Deny refused the call.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if kmserr.CodeOf(err) != kmserr.AccessDenied || !strings.Contains(err.Error(), "with an explicit deny in") {
		t.Fatalf("%s: got %v, want AccessDeniedException for an explicit deny", what, err)
	}
}

// TestTrailingDaysWithoutKeyUsage: a key policy that protects keys used in
// the last 30 days refuses DisableKey and ScheduleKeyDeletion on a new key
// and on one just used, and allows them once 30 whole days have passed
// without a cryptographic use.
func TestTrailingDaysWithoutKeyUsage(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	svc := clockedPolicyService(t, nil, clock)
	policy := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Principal":"*","Action":["kms:DisableKey","kms:ScheduleKeyDeletion"],"Resource":"*",
  "Condition":{"NumericLessThan":{"kms:TrailingDaysWithoutKeyUsage":"30"}}}]}`
	ck, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	disable := func() error { _, err := svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: id}); return err }
	enable := func() {
		if _, err := svc.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}

	wantRefused(t, "DisableKey of a new key", disable())
	_, err = svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: kmsapi.Int32(7)})
	wantRefused(t, "ScheduleKeyDeletion of a new key", err)

	clock.Add(29*24*time.Hour + 23*time.Hour) // 29 whole days
	wantRefused(t, "DisableKey after 29 days", disable())
	clock.Add(time.Hour)
	wantAllowed(t, "DisableKey after 30 days", disable())
	enable()

	// A use starts the count again.
	encrypt := RecordsUse("Encrypt", (*Service).Encrypt)
	if _, err := encrypt(svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	clock.Add(24 * time.Hour)
	wantRefused(t, "DisableKey a day after a use", disable())
	clock.Add(29 * 24 * time.Hour)
	wantAllowed(t, "DisableKey 30 days after a use", disable())
}

// TestResourceAliasesFollowTheAliases: kms:ResourceAliases, computed once
// per cached key, follows CreateAlias, UpdateAlias and DeleteAlias, and the
// deletion of a key with its aliases, at once.
func TestResourceAliasesFollowTheAliases(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	app := userCall(acct, "app")
	svc := clockedPolicyService(t, fakeIdentities{app.Caller.ARN: {`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/blocked-*"}}}]}`}}, clock)
	newKey := func() string {
		ck, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		return ck.KeyMetadata.KeyId
	}
	encrypt := func(id string) error {
		_, err := svc.Encrypt(ctx, userCall(acct, "app"), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
		return err
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := newKey(), newKey()
	wantAllowed(t, "key without aliases", encrypt(a)) // loads a into the cache

	must(svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/blocked-1", TargetKeyId: a}))
	wantRefused(t, "after CreateAlias", encrypt(a))
	must(svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/open", TargetKeyId: a}))
	wantRefused(t, "with a second alias", encrypt(a))
	wantAllowed(t, "the other key", encrypt(b))

	must(svc.UpdateAlias(ctx, call(), &kmsapi.UpdateAliasInput{AliasName: "alias/blocked-1", TargetKeyId: b}))
	wantAllowed(t, "the key the alias left", encrypt(a))
	wantRefused(t, "the key the alias joined", encrypt(b))

	must(svc.DeleteAlias(ctx, call(), &kmsapi.DeleteAliasInput{AliasName: "alias/blocked-1"}))
	wantAllowed(t, "after DeleteAlias", encrypt(b))

	// A deleted key's aliases go with it; the name can then name another key.
	must(svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/blocked-2", TargetKeyId: a}))
	must(svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: a, PendingWindowInDays: kmsapi.Int32(7)}))
	clock.Add(8 * 24 * time.Hour)
	if n, err := svc.DeleteDueKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys = %d, %v", n, err)
	}
	wantAllowed(t, "before the name is reused", encrypt(b))
	must(svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/blocked-2", TargetKeyId: b}))
	wantRefused(t, "the key that took the deleted key's alias", encrypt(b))
}
