package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// auditRounds is how many interleaved rounds compare the audit modes.
const auditRounds = 5

// runAudit measures what waiting for the audit record's fsync costs:
// Encrypt 32B at each concurrency on two servers running side by side, one
// answering once its record is queued (dev --audit-async, the old default)
// and one answering once it is durable (the default). Rounds alternate
// between them, so both see the same machine; the ratio of server CPU per
// request is taken per round and the median printed.
func runAudit(bin string, dur time.Duration, levels string, extra []string) error {
	ctx := context.Background()
	async, err := start(bin, true, append([]string{"--audit-async"}, extra...))
	if err != nil {
		return err
	}
	defer async.stop()
	durable, err := start(bin, true, extra)
	if err != nil {
		return err
	}
	defer durable.stop()
	pt := make([]byte, 32)
	encrypt := func(srv *server) (scenario, error) {
		k, err := client(srv.url, 1).CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			return scenario{}, err
		}
		return scenario{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: pt})
			return err
		}}, nil
	}
	scAsync, err := encrypt(async)
	if err != nil {
		return err
	}
	scDurable, err := encrypt(durable)
	if err != nil {
		return err
	}
	round := max(dur/auditRounds, time.Second)
	fmt.Printf("\naudit durability: Encrypt 32B, --enforce, records acknowledged when queued (async) vs when fsynced (durable, the default); %d interleaved rounds of %s\n", auditRounds, round)
	header()
	for _, conc := range parseLevels(levels) {
		var ratios []float64
		for r := range auditRounds {
			order := []*server{async, durable}
			if r%2 == 1 {
				order = []*server{durable, async}
			}
			var cpu [2]time.Duration
			for _, srv := range order {
				sc, i := scAsync, 0
				if srv == durable {
					sc, i = scDurable, 1
				}
				sc.name = []string{"  async", "  durable"}[i]
				if cpu[i], err = measureWith(ctx, srv, client(srv.url, conc), sc, conc, round); err != nil {
					return err
				}
			}
			if cpu[0] > 0 {
				ratios = append(ratios, float64(cpu[1])/float64(cpu[0]))
			}
		}
		slices.Sort(ratios)
		if len(ratios) > 0 {
			fmt.Printf("  conc %d: durable audit costs %+.1f%% server CPU per request (median of %d rounds)\n",
				conc, 100*(ratios[len(ratios)/2]-1), len(ratios))
		}
	}
	return nil
}
