package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestKeyUsesThroughRuns uses 4,200 keys once each through the AWS SDK.
// The flush at shutdown writes their uses as runs (a flush of 4,096 or
// more does), the next start merges the runs into place, and
// GetKeyLastUsage names each sampled key's own request before the stop
// and after the merge.
func TestKeyUsesThroughRuns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte("generate:\n  - count: 4200\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	start := func() (*proc, *kms.Client, string) {
		admin := freeAddr(t)
		p := startKMSD(t, "dev", "--data", data, "--seed", seed, "--admin-listen", admin, "--jobs-interval", "1h")
		return p, kmsIn(p.url, "us-east-1", docKey, docSecret), "http://" + admin + "/metrics"
	}
	p, east, metrics := start()
	var ids []string
	pages := kms.NewListKeysPaginator(east, &kms.ListKeysInput{Limit: aws.Int32(1000)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			ids = append(ids, *k.KeyId)
		}
	}
	if len(ids) != 4200 {
		t.Fatalf("%d keys, want 4200", len(ids))
	}
	requests := make([]string, len(ids))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 32 {
				out, err := east.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(ids[i]), Plaintext: []byte("x")})
				if err != nil {
					errs <- err
					return
				}
				id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
				if !ok {
					errs <- errors.New("an Encrypt without a request ID")
					return
				}
				requests[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for i := 0; i < len(ids); i += 97 {
			out, err := east.GetKeyLastUsage(ctx, &kms.GetKeyLastUsageInput{KeyId: aws.String(ids[i])})
			if err != nil {
				t.Fatal(err)
			}
			if u := out.KeyLastUsage; u == nil || aws.ToString(u.KmsRequestId) != requests[i] || u.Operation != "Encrypt" {
				t.Fatalf("%s: key %d's last use %+v, want Encrypt by %s", when, i, u, requests[i])
			}
		}
	}
	check("in memory")
	if m := scrapeMetrics(t, metrics); m["kmsd_key_last_usage_pending"] != 4200 {
		t.Fatalf("%v keys' uses pending, want 4200", m["kmsd_key_last_usage_pending"])
	}
	p.stop()

	p, east, metrics = start()
	defer p.stop()
	// The start's flush finds nothing new, so the runs the stop wrote are
	// merged at once: all 4,200 uses written in place.
	merged := regexp.MustCompile(`key-use-runs\W+items\W+4200\b`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := scrapeMetrics(t, metrics)
		if merged.MatchString(p.stdout.String()+p.stderr.String()) && m["kmsd_key_last_usage_unmerged"] == 0 && m["kmsd_key_last_usage_flushing"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no merge of 4,200 uses: %v unmerged (busy %v); log:\n%s%s", m["kmsd_key_last_usage_unmerged"], m["kmsd_key_last_usage_flushing"], p.stdout, p.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	check("after the merge")
}
