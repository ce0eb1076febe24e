package kms

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/uuid"
)

// genService is a Service on a bolt store with a quota of quota keys per
// account and Region.
func genService(t *testing.T, quota int) *Service {
	t.Helper()
	h := newHarness(t)
	return h.service(h.st, Limits{KeysPerAccount: quota})
}

// TestSeedGenerateTwiceCreatesNothing generates more keys than one batch
// holds over two Regions, checks that every one is there under its alias
// and encrypts, that a second run creates nothing, and that the keys count
// against the quota as CreateKey's do.
func TestSeedGenerateTwiceCreatesNothing(t *testing.T) {
	ctx := context.Background()
	const count = 2*seedBatch + 3
	svc := genService(t, count/2+2)
	g := SeedGenerated{AccountID: "111122223333", Regions: []string{"us-east-1", "us-west-2"}, Count: count,
		AliasPrefix: "alias/gen-", Tags: map[string]string{"bench": "yes"}}
	var progress []int
	created, err := svc.SeedGenerate(ctx, g, func(done int) { progress = append(progress, done) })
	if err != nil || created != count {
		t.Fatalf("first run: created %d, %v", created, err)
	}
	if len(progress) != 3 || progress[2] != count {
		t.Fatalf("progress %v", progress)
	}
	for _, region := range g.Regions {
		n, marker := 0, ""
		for {
			out, err := svc.ListKeys(ctx, callIn(region), &kmsapi.ListKeysInput{Limit: kmsapi.Int32(1000), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Keys)
			if out.Truncated == nil || !*out.Truncated {
				break
			}
			marker = out.NextMarker
		}
		if want := count / 2; region == "us-east-1" && n != want+1 || region == "us-west-2" && n != want {
			t.Fatalf("%d keys in %s", n, region)
		}
	}
	for _, n := range []int{0, 1, seedBatch, count - 1} {
		region, id, alias := g.Key(n)
		if !uuid.Valid(id) || id[14] != '4' || !strings.Contains("89ab", id[19:20]) {
			t.Fatalf("key %d: id %s is not shaped as a version 4 UUID", n, id)
		}
		d, err := svc.DescribeKey(ctx, callIn(region), &kmsapi.DescribeKeyInput{KeyId: alias})
		if err != nil || d.KeyMetadata.KeyId != id || d.KeyMetadata.KeyState != stateEnabled {
			t.Fatalf("key %d by alias %s in %s: %+v, %v", n, alias, region, d, err)
		}
		enc, err := svc.Encrypt(ctx, callIn(region), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("generated")})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := svc.Decrypt(ctx, callIn(region), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "generated" {
			t.Fatalf("decrypt under key %d: %v", n, err)
		}
		tags, err := svc.ListResourceTags(ctx, callIn(region), &kmsapi.ListResourceTagsInput{KeyId: id})
		if err != nil || len(tags.Tags) != 1 {
			t.Fatalf("tags of key %d: %+v, %v", n, tags, err)
		}
	}
	if created, err := svc.SeedGenerate(ctx, g, nil); err != nil || created != 0 {
		t.Fatalf("second run: created %d, %v", created, err)
	}
	// us-east-1 holds count/2+1 keys: one more fits its quota, then none.
	if _, err := svc.CreateKey(ctx, callIn("us-east-1"), &kmsapi.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateKey(ctx, callIn("us-east-1"), &kmsapi.CreateKeyInput{}); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("CreateKey past the quota: %v", err)
	}
}

// TestSeedGenerateRefuses checks the mistakes a generate entry is refused
// for, each naming its setting.
func TestSeedGenerateRefuses(t *testing.T) {
	ctx := context.Background()
	svc := genService(t, 10)
	base := SeedGenerated{AccountID: "111122223333", Regions: []string{"us-east-1"}, Count: 5}
	for _, tc := range []struct {
		edit        func(*SeedGenerated)
		field, want string
	}{
		{func(g *SeedGenerated) { g.Count = 21; g.Regions = []string{"us-east-1", "us-west-2"} }, "count",
			"21 keys in 2 Regions put 11 keys in us-east-1, more than AWS's quota of 10 KMS keys per account and Region; spread them over 3 Regions or more"},
		{func(g *SeedGenerated) { g.Count = 0 }, "count", "1 or more"},
		{func(g *SeedGenerated) { g.Regions = nil }, "regions", "at least one Region"},
		{func(g *SeedGenerated) { g.Regions = []string{"us-east-1", "us-east-1"} }, "regions[1]", "listed twice"},
		{func(g *SeedGenerated) { g.Regions = []string{"US East"} }, "regions[0]", "not a Region name"},
		{func(g *SeedGenerated) { g.AliasPrefix = "gen-" }, "alias_prefix", `Alias must start with the prefix "alias/"`},
		{func(g *SeedGenerated) { g.KeySpec = "AES_256" }, "key_spec", "not a KeySpec"},
		{func(g *SeedGenerated) { g.KeySpec = "SM2"; g.KeyUsage = "SIGN_VERIFY" }, "key_usage", "SM2"},
		{func(g *SeedGenerated) { g.Policy = "{" }, "policy", ""},
	} {
		g := base
		tc.edit(&g)
		_, err := svc.SeedGenerate(ctx, g, nil)
		var se *SeedError
		if !errors.As(err, &se) || se.Field != tc.field || !strings.Contains(se.Reason(), tc.want) {
			t.Errorf("%+v: %v, want %s: %s", g, err, tc.field, tc.want)
		}
	}

	// Keys made before fill the quota the seed reaches while running: the
	// keys stored before stay, and a second run with room creates the rest.
	for range 7 {
		if _, err := svc.CreateKey(ctx, callIn("us-east-1"), &kmsapi.CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	}
	var se *SeedError
	if _, err := svc.SeedGenerate(ctx, base, nil); !errors.As(err, &se) || se.Field != "count" ||
		se.Reason() != "account 111122223333 has reached AWS's quota of 10 KMS keys per account and Region in us-east-1" {
		t.Fatalf("past the quota: %v", err)
	}

	// An alias the seed would give that names another key.
	g := base
	g.Regions, g.AliasPrefix = []string{"eu-west-1"}, "alias/taken-"
	other, err := svc.CreateKey(ctx, callIn("eu-west-1"), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAlias(ctx, callIn("eu-west-1"), &kmsapi.CreateAliasInput{AliasName: "alias/taken-0000003", TargetKeyId: other.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SeedGenerate(ctx, g, nil); !errors.As(err, &se) || se.Field != "alias_prefix" ||
		se.Reason() != "alias alias/taken-0000003 already points at key "+other.KeyMetadata.KeyId {
		t.Fatalf("taken alias: %v", err)
	}
}

// TestGeneratedKeyIDs checks that ids are stable and differ by account,
// Region, entry and number.
func TestGeneratedKeyIDs(t *testing.T) {
	a := GeneratedKeyID("111122223333", "us-east-1", 0, 0)
	if a != GeneratedKeyID("111122223333", "us-east-1", 0, 0) {
		t.Fatal("not stable")
	}
	for _, b := range []string{
		GeneratedKeyID("444455556666", "us-east-1", 0, 0), GeneratedKeyID("111122223333", "us-west-2", 0, 0),
		GeneratedKeyID("111122223333", "us-east-1", 1, 0), GeneratedKeyID("111122223333", "us-east-1", 0, 1),
	} {
		if a == b {
			t.Fatalf("%s twice", a)
		}
	}
}
