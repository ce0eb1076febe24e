package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// TestAWSRegionsMatchTheSDK: every Region of every partition the AWS SDK
// for Go v2 in go.mod knows is an AWS Region to kmsd, so a new Region
// works as soon as the SDK is updated and this list follows.
func TestAWSRegionsMatchTheSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Fatalf("go list the SDK module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "endpoints", "awsrulesfn", "partitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Partitions []struct {
			ID      string                     `json:"id"`
			Regions map[string]json.RawMessage `json:"regions"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range doc.Partitions {
		for r := range p.Regions {
			if strings.HasPrefix(r, "aws-") { // the partitions' global pseudo-Regions
				continue
			}
			n++
			if !isAWSRegion(r) {
				t.Errorf("the SDK's partition %s has Region %s, which kmsd does not know", p.ID, r)
			}
		}
	}
	if n < 40 {
		t.Fatalf("read %d Regions from the SDK; want AWS's full list", n)
	}
	for _, r := range []string{"us-east-7", "eu-wset-1", "local-1", "aws-global", ""} {
		if isAWSRegion(r) {
			t.Errorf("%q is taken for an AWS Region", r)
		}
	}
}

func kmsIn(url, region, akid, secret string) *kms.Client {
	return kms.New(kms.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

// TestMisspeltRegionIsRefused: a request scoped to a Region that is neither
// AWS's nor configured gets AWS's InvalidSignatureException, with or
// without signature checks, instead of a fresh empty set of keys; AWS's
// Regions in every partition and configured private Regions work.
func TestMisspeltRegionIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, mode := range [][]string{{"dev"}, {"dev", "--enforce"}} {
		p := startKMSD(t, append(mode, "--data", t.TempDir())...)
		for _, r := range []string{"us-east-7", "eu-wset-1", "local-1"} {
			_, err := kmsIn(p.url, r, docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{})
			want := "Credential should be scoped to a valid region, not '" + r + "'."
			if errCode(err) != "InvalidSignatureException" || !strings.Contains(err.Error(), want) {
				t.Errorf("%v: a request scoped to %s: %v; want InvalidSignatureException: %s", mode, r, err, want)
			}
		}
		for _, r := range []string{"us-east-1", "cn-northwest-1", "us-gov-west-1", "ap-southeast-7", "mx-central-1", "eusc-de-east-1"} {
			if _, err := kmsIn(p.url, r, docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
				t.Errorf("%v: CreateKey in %s: %v", mode, r, err)
			}
		}
		p.stop()
	}

	// Private Regions are served when configured; others stay refused.
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir(), "--region", "local-1", "--regions", "local-1,local-2,us-east-1")
	for _, r := range []string{"local-1", "local-2", "us-east-1"} {
		if _, err := kmsIn(p.url, r, docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
			t.Errorf("CreateKey in the configured Region %s: %v", r, err)
		}
	}
	if _, err := kmsIn(p.url, "local-3", docKey, docSecret).ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "InvalidSignatureException" {
		t.Errorf("local-3, not configured: %v", err)
	}
	if _, err := kmsIn(p.url, "eu-west-1", docKey, docSecret).ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "UnrecognizedClientException" {
		t.Errorf("eu-west-1, an AWS Region not served: %v", err)
	}
	p.stop()

	p = startKMSD(t, "dev", "--data", t.TempDir(), "--region", "lab-1")
	if _, err := kmsIn(p.url, "lab-1", docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Errorf("CreateKey in the default Region lab-1: %v", err)
	}
	p.stop()

	p = startKMSD(t, "dev", "--data", t.TempDir(), "--regions", "us-east-1,eu-wset-1")
	if !strings.Contains(p.stderr.String(), "eu-wset-1 is not an AWS Region (misspelt?)") {
		t.Errorf("no warning about the misspelt --regions entry:\n%s", p.stderr)
	}
	p.stop()
}
