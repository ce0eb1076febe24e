package kms

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// TestAWSManagedKeysCountAgainstNoQuota: an account at its quota of
// customer managed keys still gets the AWS managed keys of the services it
// uses, and they leave the quota as it was.
func TestAWSManagedKeysCountAgainstNoQuota(t *testing.T) {
	ctx := context.Background()
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
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: AccountOwner{}, Limits: Limits{KeysPerAccount: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{}); kmserr.CodeOf(err) != kmserr.LimitExceeded {
		t.Fatalf("third CreateKey: %v, want LimitExceededException", err)
	}
	for _, alias := range []string{"alias/aws/s3", "alias/aws/ebs"} {
		out, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: alias})
		if err != nil {
			t.Fatalf("DescribeKey %s at the quota: %v", alias, err)
		}
		if out.KeyMetadata.KeyManager != kmsapi.KeyManagerTypeAWS {
			t.Errorf("%s: KeyManager %q", alias, out.KeyMetadata.KeyManager)
		}
	}
	if _, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{}); kmserr.CodeOf(err) != kmserr.LimitExceeded {
		t.Errorf("CreateKey after the AWS managed keys: %v, want LimitExceededException still", err)
	}
	keys, err := svc.ListKeys(ctx, call(), &kmsapi.ListKeysInput{})
	if err != nil || len(keys.Keys) != 4 {
		t.Fatalf("ListKeys: %v, %v; want 2 customer and 2 AWS managed keys", keys, err)
	}
}

// TestAWSManagedKeyAfterRestart: the key, its alias and what it refuses
// are stored, not remembered: after a restart the alias names the same
// key and its policy still cannot be replaced.
func TestAWSManagedKeyAfterRestart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	out, err := h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: "alias/aws/rds"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	h.reopen()
	again, err := h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: "alias/aws/rds"})
	if err != nil || again.KeyMetadata.KeyId != id {
		t.Fatalf("after restart alias/aws/rds names %v (%v), want %s", again, err, id)
	}
	pol, err := h.svc.GetKeyPolicy(ctx, call(), &kmsapi.GetKeyPolicyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.PutKeyPolicy(ctx, call(), &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: DefaultPolicy("111122223333")})
	if kmserr.CodeOf(err) != kmserr.AccessDenied {
		t.Errorf("PutKeyPolicy after restart: %v, want AccessDeniedException", err)
	}
	if now, _ := h.svc.GetKeyPolicy(ctx, call(), &kmsapi.GetKeyPolicyInput{KeyId: id}); now == nil || now.Policy != pol.Policy {
		t.Error("the policy changed")
	}
}

// TestAWSManagedKeyNotCreatedForAnotherAccount: a caller naming another
// account's predefined alias by its ARN creates nothing there.
func TestAWSManagedKeyNotCreatedForAnotherAccount(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	other := &Call{Caller: RootCaller("444455556666", "us-east-1")}
	_, err := h.svc.DescribeKey(ctx, other, &kmsapi.DescribeKeyInput{KeyId: "arn:aws:kms:us-east-1:111122223333:alias/aws/s3"})
	// As for any key of another account that the caller may not use:
	// AccessDenied, whether or not it exists.
	if kmserr.CodeOf(err) != kmserr.AccessDenied {
		t.Fatalf("DescribeKey of another account's alias/aws/s3: %v, want AccessDeniedException", err)
	}
	keys, err := h.svc.ListKeys(ctx, call(), &kmsapi.ListKeysInput{})
	if err != nil || len(keys.Keys) != 0 {
		t.Errorf("the other account's call created keys: %v, %v", keys, err)
	}
}
