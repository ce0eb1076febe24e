package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestSeedGenerateKeys seeds a kmsd with a data directory with 2,000
// generated keys over two Regions, with aliases, and checks through the SDK
// that they are there and usable, that a restart with the same seed
// creates nothing and keeps what the keys encrypted, and that another kmsd
// seeded from the file names the same keys.
func TestSeedGenerateKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte(`generate:
  - count: 2000
    regions: [us-east-1, us-west-2]
    alias_prefix: alias/gen-
    description: generated
    tags: {bench: "yes"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := startKMSD(t, "dev", "--data", data, "--seed", seed)
	if !strings.Contains(p.stdout.String(), "generate[0]: 2000 keys in 2 Regions of account 111122223333, 2000 created now") {
		t.Fatalf("seed summary:\n%s", p.stdout)
	}
	east, west := kmsIn(p.url, "us-east-1", docKey, docSecret), kmsIn(p.url, "us-west-2", docKey, docSecret)
	for c, want := range map[*kms.Client]int{east: 1000, west: 1000} {
		n := 0
		pages := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(1000)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Keys)
		}
		if n != want {
			t.Fatalf("%d keys in a Region, want %d", n, want)
		}
	}
	// Key n is in us-east-1 for an even n, us-west-2 for an odd one, with
	// the alias of n+1.
	d, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/gen-0002000")})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStateEnabled || *d.KeyMetadata.Description != "generated" {
		t.Fatalf("the last key: %+v, %v", d, err)
	}
	lastID := *d.KeyMetadata.KeyId
	if _, err := east.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/gen-0002000")}); errCode(err) != "NotFoundException" {
		t.Fatalf("the last key's alias in us-east-1: %v", err)
	}
	enc, err := east.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/gen-0000001"), Plaintext: []byte("generated")})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := east.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: enc.KeyId})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "bench" {
		t.Fatalf("tags: %+v, %v", tags, err)
	}
	p.stop()

	p = startKMSD(t, "dev", "--data", data, "--seed", seed)
	if !strings.Contains(p.stdout.String(), "generate[0]: 2000 keys in 2 Regions of account 111122223333, 0 created now") {
		t.Fatalf("second start's seed summary:\n%s", p.stdout)
	}
	dec, err := kmsIn(p.url, "us-east-1", docKey, docSecret).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "generated" {
		t.Fatalf("decrypt after a restart: %v", err)
	}
	p.stop()

	other := startKMSD(t, "dev", "--ephemeral", "--seed", seed)
	d, err = kmsIn(other.url, "us-west-2", docKey, docSecret).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/gen-0002000")})
	if err != nil || *d.KeyMetadata.KeyId != lastID {
		t.Fatalf("another kmsd names the last key %v, %v; want %s", d, err, lastID)
	}
}

// TestSeedGenerateErrorsNameTheLine checks that a generate entry kmsd
// refuses, AWS's quota of keys per account and Region first, is reported
// with the file, the line and the setting.
func TestSeedGenerateErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ seed, want string }{
		{"generate:\n  - count: 200001\n    regions: [us-east-1, us-west-2]\n",
			"line 2: generate[0].count: 200001 keys in 2 Regions put 100001 keys in us-east-1, more than AWS's quota of 100000 KMS keys per account and Region; spread them over 3 Regions or more"},
		{"generate:\n  - count: 100001\n",
			"line 2: generate[0].count: 100001 keys in us-east-1 exceed AWS's quota of 100000 KMS keys per account and Region; spread them over 2 Regions or more"},
		{"generate:\n  - count: 10\n  - count: 10\n    regions: [us-east-1, nowhere-1]\n",
			"line 4: generate[1].regions[1]: this kmsd does not serve nowhere-1"},
		{"generate:\n  - count: 10\n    alias_prefix: gen-\n",
			`line 3: generate[0].alias_prefix: Alias must start with the prefix "alias/"`},
		{"generate:\n  - count: 10\n    key_spec: ECC_NIST_P256\n    key_usage: ENCRYPT_DECRYPT\n",
			"line 4: generate[0].key_usage: KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256"},
	} {
		path := filepath.Join(t.TempDir(), "seed.yaml")
		if err := os.WriteFile(path, []byte(tc.seed), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(context.Background(), []string{"dev", "--ephemeral", "--regions", "us-east-1,us-west-2", "--listen", "127.0.0.1:0", "--seed", path}, &out, &out, noEnv)
		if err == nil || !strings.Contains(err.Error(), "seed "+path+" "+tc.want) {
			t.Errorf("seed\n%s: %v\nwant %q", tc.seed, err, tc.want)
		}
	}
}
