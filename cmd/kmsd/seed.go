package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/secret"
)

// seedFile is the --seed format:
//
//	keys:
//	  - id: 11111111-2222-3333-4444-555555555555
//	    description: payments
//	    material: <base64 of 32 bytes>   # optional: fixed key material
//	    enabled: false                   # optional, default true
//	    aliases: [alias/payments]
//	    tags: {team: payments}
//	    policy: '{"Version":"2012-10-17","Statement":[...]}'   # optional
//	    account: "111122223333"          # optional, default --account-id
//	    region: us-east-1                # optional, default --region
type seedFile struct {
	Keys []struct {
		ID          string            `yaml:"id"`
		Description string            `yaml:"description"`
		Material    string            `yaml:"material"`
		Enabled     *bool             `yaml:"enabled"`
		Aliases     []string          `yaml:"aliases"`
		Tags        map[string]string `yaml:"tags"`
		Policy      string            `yaml:"policy"`
		Account     string            `yaml:"account"`
		Region      string            `yaml:"region"`
	} `yaml:"keys"`
}

func applySeed(ctx context.Context, svc *kms.Service, cfg Config, stdout io.Writer) error {
	var f seedFile
	if err := decodeYAMLFile(cfg.Seed, &f); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	created := 0
	for _, k := range f.Keys {
		sk := kms.SeedKey{
			AccountID: firstNonEmpty(k.Account, cfg.AccountID), Region: firstNonEmpty(k.Region, cfg.Region),
			KeyID: k.ID, Description: k.Description, Policy: k.Policy, Tags: k.Tags, Aliases: k.Aliases,
			Disabled: k.Enabled != nil && !*k.Enabled,
		}
		if k.Material != "" {
			m, err := base64.StdEncoding.DecodeString(k.Material)
			if err != nil {
				return fmt.Errorf("seed key %s: material is not base64: %w", k.ID, err)
			}
			sk.Material = secret.Bytes(m)
		}
		isNew, err := svc.Seed(ctx, sk)
		if err != nil {
			return err
		}
		if isNew {
			created++
		}
	}
	fmt.Fprintf(stdout, "  seed:  %s: %d keys, %d created now\n", cfg.Seed, len(f.Keys), created)
	return nil
}
