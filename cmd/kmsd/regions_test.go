package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

func TestRegionsOption(t *testing.T) {
	none := func(string) string { return "" }
	cfg, _, err := loadConfig(modeDev, []string{"--regions", "us-east-1, us-west-2,eu-west-1"}, io.Discard, none)
	if err != nil || !slices.Equal(cfg.Regions, regionList{"us-east-1", "us-west-2", "eu-west-1"}) {
		t.Fatalf("--regions: %v, %v", cfg.Regions, err)
	}
	cfg, _, err = loadConfig(modeDev, nil, io.Discard, func(k string) string {
		if k == "KMSD_REGIONS" {
			return "us-east-1,ap-south-1"
		}
		return ""
	})
	if err != nil || !slices.Equal(cfg.Regions, regionList{"us-east-1", "ap-south-1"}) {
		t.Fatalf("KMSD_REGIONS: %v, %v", cfg.Regions, err)
	}
	dir := t.TempDir()
	for name, yaml := range map[string]string{"list": "regions: [eu-west-1, eu-central-1]\nregion: eu-west-1\n", "string": "regions: eu-west-1,eu-central-1\nregion: eu-west-1\n"} {
		file := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := loadConfig(modeDev, []string{"--config", file}, io.Discard, none)
		if err != nil || !slices.Equal(cfg.Regions, regionList{"eu-west-1", "eu-central-1"}) {
			t.Fatalf("YAML %s: %v, %v", name, cfg.Regions, err)
		}
		if !strings.Contains(cfg.printable(), "regions:") {
			t.Fatalf("--print-config lacks the Regions:\n%s", cfg.printable())
		}
	}
	cfg, _, err = loadConfig(modeDev, nil, io.Discard, none)
	if err != nil || cfg.Regions != nil {
		t.Fatalf("default Regions %v, %v; want none (any Region)", cfg.Regions, err)
	}
	for name, args := range map[string][]string{
		"default Region not served": {"--regions", "us-west-2,eu-west-1"},
		"not a Region name":         {"--regions", "us-east-1,US_WEST"},
		"listed twice":              {"--regions", "us-east-1,us-east-1"},
	} {
		if _, _, err := loadConfig(modeDev, args, io.Discard, none); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRegionsServedAndLastUsageAcrossShutdown runs kmsd serving two
// Regions: a third is refused, replicas go only to served Regions, and a
// key's last use survives a graceful restart (the shutdown flush).
func TestRegionsServedAndLastUsageAcrossShutdown(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	addr := freeAddr(t)
	p := startKMSD(t, "dev", "--data", data, "--listen", addr, "--regions", "us-east-1,us-west-2")
	// The banner's lines may still be arriving when the server answers.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stdout.String(), "regions: us-east-1, us-west-2"); {
		if time.Now().After(deadline) {
			t.Errorf("banner does not name the Regions:\n%s", p.stdout)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	in := func(region string) *kms.Client {
		return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(p.url), Credentials: p.client("AKIAIOSFODNN7EXAMPLE", "any-secret-will-do").Options().Credentials, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
	}
	_, err := in("eu-west-1").ListKeys(ctx, &kms.ListKeysInput{})
	if errCode(err) != "UnrecognizedClientException" || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("a request for eu-west-1: %v", err)
	}
	east := in("us-east-1")
	ck, err := east.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	if _, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: id, ReplicaRegion: aws.String("eu-west-1")}); errCode(err) != "UnsupportedOperationException" {
		t.Fatalf("replicate to a Region not served: %v", err)
	}
	if _, err := east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: id, ReplicaRegion: aws.String("us-west-2")}); err != nil {
		t.Fatal(err)
	}
	enc, err := east.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	reqID, _ := awsmiddleware.GetRequestIDMetadata(enc.ResultMetadata)
	p.stop()

	p = startKMSD(t, "dev", "--data", data, "--listen", addr, "--regions", "us-east-1,us-west-2")
	east, west := in("us-east-1"), in("us-west-2")
	lu, err := east.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: id})
	if err != nil || lu.KeyLastUsage == nil || lu.KeyLastUsage.Operation != types.KeyLastUsageTrackingOperationEncrypt || aws.ToString(lu.KeyLastUsage.KmsRequestId) != reqID {
		t.Fatalf("last usage after a graceful restart: %+v, %v; want Encrypt by %s", lu, err, reqID)
	}
	dec, err := west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept" {
		t.Fatalf("decrypt in the replica's Region after the restart: %v", err)
	}
	p.stop()
}
