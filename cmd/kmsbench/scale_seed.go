package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// writeScaleSeed writes a seed that generates n keys over as few Regions
// of scaleRegions as the quota allows, and returns its path.
func writeScaleSeed(n int) (string, error) {
	if n > keysPerRegion*len(scaleRegions) {
		return "", fmt.Errorf("at most %d keys: %d Regions of %d", keysPerRegion*len(scaleRegions), len(scaleRegions), keysPerRegion)
	}
	regions := scaleRegions[:(n+keysPerRegion-1)/keysPerRegion]
	f, err := os.CreateTemp("", "kmsbench-seed-*.yaml")
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintf(f, "generate:\n  - count: %d\n    regions: [%s]\n", n, strings.Join(regions, ", "))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// listScaleKeys lists the keys of every Region of scaleRegions, and
// checks there are n.
func listScaleKeys(ctx context.Context, srv *server, n int) ([]regionKey, error) {
	ids := make([]regionKey, 0, n)
	for r, c := range newRegionClients(srv.url, 1) {
		// Listing is setup, not measured: its pages of 1,000 keys are
		// large answers, which the SDK's own HTTP client can lose with
		// retries off; sdkhttp's cannot.
		c = kms.New(c.Options(), func(o *kms.Options) { o.HTTPClient = sdkhttp.Wrap(o.HTTPClient) })
		pages := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(1000)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list the keys of %s: %w", scaleRegions[r], err)
			}
			for _, k := range out.Keys {
				ids = append(ids, regionKey{r, *k.KeyId})
			}
		}
	}
	if len(ids) != n {
		return nil, fmt.Errorf("the seeded server holds %d keys, not %d", len(ids), n)
	}
	return ids, nil
}

// measureCreate measures CreateKey at cfg.Conc on a server of its own,
// over cfg.CreateSample keys (at most cfg.Keys).
func measureCreate(ctx context.Context, cfg scaleConfig, rep *scaleReport) error {
	srv, err := start(cfg.Bin, true, cfg.Extra)
	if err != nil {
		return err
	}
	defer srv.stop()
	n := min(max(cfg.CreateSample, 1), cfg.Keys)
	t0 := time.Now()
	ids, err := createKeys(ctx, srv, n, cfg.Conc)
	if err != nil {
		return err
	}
	rep.CreateTime = time.Since(t0)
	rep.CreateRate = float64(len(ids)) / rep.CreateTime.Seconds()
	fmt.Printf("CreateKey on a server of its own: %d keys in %s (%.0f keys/s at concurrency %d), host load %.2f\n", len(ids), rep.CreateTime.Round(time.Second), rep.CreateRate, cfg.Conc, loadAvg())
	return nil
}
