package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
)

// seedGenerate is an entry of the seed's generate list: count keys of one
// kind, made up rather than listed, for a large benchmark or test store.
type seedGenerate struct {
	Count       int               `yaml:"count"`
	Description string            `yaml:"description"`
	KeySpec     string            `yaml:"key_spec"`
	KeyUsage    string            `yaml:"key_usage"`
	Policy      string            `yaml:"policy"`
	Tags        map[string]string `yaml:"tags"`
	Account     string            `yaml:"account"`
	Regions     []string          `yaml:"regions"`
	AliasPrefix string            `yaml:"alias_prefix"`
}

// seedProgressEvery is how often a long generation says how far it got.
const seedProgressEvery = 10 * time.Second

// applyGenerate creates the generated keys of the seed that the node
// lacks, entry by entry, and reports each entry's rate.
func applyGenerate(ctx context.Context, n *node, cfg Config, gens []seedGenerate, at seedLines, stdout io.Writer) error {
	for i, g := range gens {
		sg := kms.SeedGenerated{
			AccountID: firstNonEmpty(g.Account, cfg.AccountID), Regions: g.Regions, Entry: i, Count: g.Count,
			Description: g.Description, KeySpec: g.KeySpec, KeyUsage: g.KeyUsage, Policy: g.Policy, Tags: g.Tags,
			AliasPrefix: g.AliasPrefix,
		}
		if len(sg.Regions) == 0 {
			sg.Regions = []string{cfg.Region}
		}
		if err := n.ids.EnsureAccount(ctx, sg.AccountID); err != nil {
			return at.errorf(err, "generate", i, "account")
		}
		t0 := time.Now()
		last := t0
		created, err := n.svc.SeedGenerate(ctx, sg, func(done int) {
			if time.Since(last) >= seedProgressEvery {
				last = time.Now()
				fmt.Fprintf(stdout, "  seed:  generate[%d]: %d of %d keys checked or created\n", i, done, sg.Count)
			}
		})
		var se *kms.SeedError
		if errors.As(err, &se) {
			return at.errorf(errors.New(se.Reason()), "generate", i, se.Field)
		} else if err != nil {
			return at.errorf(err, "generate", i)
		}
		d := time.Since(t0)
		where := fmt.Sprintf("%d Regions", len(sg.Regions))
		if len(sg.Regions) == 1 {
			where = sg.Regions[0]
		}
		fmt.Fprintf(stdout, "  seed:  generate[%d]: %d keys in %s of account %s, %d created now in %s (%.0f keys/s)\n",
			i, sg.Count, where, sg.AccountID, created, d.Round(time.Millisecond), float64(created)/d.Seconds())
	}
	return nil
}
