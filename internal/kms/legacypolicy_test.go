package kms

import (
	"context"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// TestPolicyStoredUnderOlderRules: a key policy stored before key policies
// were checked for unknown condition keys is evaluated as it was when it
// was put, so its owner can still use the key and replace the policy,
// rather than being locked out of it.
func TestPolicyStoredUnderOlderRules(t *testing.T) {
	ctx := context.Background()
	svc := clockedPolicyService(t, nil, &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)})
	ck, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	legacy := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:NoSuchKey":"x"}}}]}`
	if _, err := svc.PutKeyPolicy(ctx, call(), &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: legacy}); err == nil {
		t.Fatal("a key policy with an unknown condition key was accepted")
	}
	// Write it as an older kmsd did, behind the validation's back.
	err = svc.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadKey(tx, acct, "us-east-1", id)
		if err != nil {
			return err
		}
		r.Policy = legacy
		return putKey(tx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.cache.invalidate(cacheKeyID(acct, "us-east-1", id))

	if _, err := svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt under a policy stored by an older kmsd: %v", err)
	}
	if _, err := svc.PutKeyPolicy(ctx, call(), &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}]}`}); err != nil {
		t.Fatalf("the owner cannot replace a policy stored by an older kmsd: %v", err)
	}
}
