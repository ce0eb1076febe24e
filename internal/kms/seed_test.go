package kms

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

// TestSeedTwiceAddsNothing seeds a multi-Region key with a replica and
// grants twice, then with one more replica and grant: the second run
// changes nothing, the third adds exactly what is new, and every related
// key lists every replica once.
func TestSeedTwiceAddsNothing(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	sk := SeedKey{AccountID: "111122223333", Region: "us-east-1", KeyID: "mrk-00112233445566778899aabbccddeeff",
		Material: bytes.Repeat([]byte{9}, 32),
		Replicas: []SeedReplica{{Region: "us-west-2", Aliases: []string{"alias/west"}}},
		Grants:   []SeedGrant{{Name: "g", GranteePrincipal: "arn:aws:iam::111122223333:user/app", Operations: []string{"Decrypt"}}}}
	for i, want := range []bool{true, false} {
		if created, err := h.svc.Seed(ctx, sk); err != nil || created != want {
			t.Fatalf("seed run %d: created=%v err=%v", i, created, err)
		}
	}
	grants := func(region string) int {
		c := call()
		c.Caller.Region = region
		out, err := h.svc.ListGrants(ctx, c, &kmsapi.ListGrantsInput{KeyId: sk.KeyID})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Grants)
	}
	if n := grants("us-east-1"); n != 1 {
		t.Fatalf("%d grants after seeding twice, want 1", n)
	}
	sk.Replicas = append(sk.Replicas, SeedReplica{Region: "eu-west-1", Grants: sk.Grants})
	sk.Grants = append(sk.Grants, SeedGrant{Name: "h", GranteePrincipal: "arn:aws:iam::111122223333:user/app", Operations: []string{"Encrypt"}})
	if created, err := h.svc.Seed(ctx, sk); err != nil || created {
		t.Fatalf("third seed: created=%v err=%v", created, err)
	}
	if n := grants("us-east-1"); n != 2 {
		t.Fatalf("%d grants on the primary, want 2", n)
	}
	if n := grants("eu-west-1"); n != 1 {
		t.Fatalf("%d grants on the new replica, want 1", n)
	}
	for _, region := range []string{"us-east-1", "us-west-2", "eu-west-1"} {
		c := call()
		c.Caller.Region = region
		d, err := h.svc.DescribeKey(ctx, c, &kmsapi.DescribeKeyInput{KeyId: sk.KeyID})
		if err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		cfg := d.KeyMetadata.MultiRegionConfiguration
		if cfg == nil || cfg.PrimaryKey.Region != "us-east-1" || len(cfg.ReplicaKeys) != 2 ||
			cfg.ReplicaKeys[0].Region != "us-west-2" || cfg.ReplicaKeys[1].Region != "eu-west-1" {
			t.Fatalf("%s: multi-Region configuration %+v", region, cfg)
		}
	}
	var se *SeedError
	sk.KeySpec, sk.Grants, sk.Replicas = "HMAC_256", nil, nil
	if _, err := h.svc.Seed(ctx, sk); !errors.As(err, &se) || se.Field != "key_spec" {
		t.Fatalf("seeding the key as another spec: %v", err)
	}
}
