package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/secret"
)

// seedFile is the --seed format (README "Reproducible keys: --seed"):
// identities first, since key policies and grants name them, then keys.
//
//	access_keys:                         # more access keys of account roots
//	  - {id: AKIA..., secret: ..., account: "444455556666"}
//	users:
//	  - name: alice
//	    policies: {use-keys: '{...}'}    # inline policies
//	    access_keys: [{id: AKIA..., secret: ...}]
//	roles:
//	  - {name: App, trust_policy: '{...}', policies: {...}}
//	keys:
//	  - id: 11111111-2222-3333-4444-555555555555   # or mrk-<32 hex> for a multi-Region key
//	    key_spec: SYMMETRIC_DEFAULT      # optional; key_usage and origin too
//	    material: <base64>               # optional: fixed key material
//	    private_key: <PEM>               # or private_key_file, for an asymmetric key
//	    enabled: false                   # optional, default true
//	    aliases: [alias/payments]
//	    tags: {team: payments}
//	    policy: '{"Version":"2012-10-17","Statement":[...]}'   # optional
//	    account: "111122223333"          # optional, default --account-id
//	    region: us-east-1                # optional, default --region
//	    replicas: [{region: us-west-2}]  # a multi-Region key's replicas
//	    grants: [{grantee_principal: ..., operations: [Decrypt]}]
//	generate:                            # many keys, made up rather than listed
//	  - count: 1000000
//	    regions: [us-east-1, us-west-2]  # optional, default --region; key n in regions[n mod len]
//	    alias_prefix: alias/gen-         # optional: key n gets alias/gen-<n+1 in 7 digits>
//	    key_spec: SYMMETRIC_DEFAULT      # optional; key_usage, description, tags, policy, account too
//
// A generated key's id is a hash of its account, Region, entry and number,
// so every run names the same keys; its material is fresh. AWS's quota of
// 100,000 keys per account and Region applies.
type seedFile struct {
	AccessKeys []seedAccessKey `yaml:"access_keys"`
	Users      []seedUser      `yaml:"users"`
	Roles      []seedRole      `yaml:"roles"`
	Keys       []seedKey       `yaml:"keys"`
	Generate   []seedGenerate  `yaml:"generate"`
}

type seedKey struct {
	ID             string            `yaml:"id"`
	Description    string            `yaml:"description"`
	KeySpec        string            `yaml:"key_spec"`
	KeyUsage       string            `yaml:"key_usage"`
	Origin         string            `yaml:"origin"`
	Material       string            `yaml:"material"`
	PrivateKey     string            `yaml:"private_key"`
	PrivateKeyFile string            `yaml:"private_key_file"`
	Enabled        *bool             `yaml:"enabled"`
	Aliases        []string          `yaml:"aliases"`
	Tags           map[string]string `yaml:"tags"`
	Policy         string            `yaml:"policy"`
	Account        string            `yaml:"account"`
	Region         string            `yaml:"region"`
	Replicas       []seedReplica     `yaml:"replicas"`
	Grants         []seedGrant       `yaml:"grants"`
}

type seedReplica struct {
	Region      string            `yaml:"region"`
	Description string            `yaml:"description"`
	Enabled     *bool             `yaml:"enabled"`
	Aliases     []string          `yaml:"aliases"`
	Tags        map[string]string `yaml:"tags"`
	Policy      string            `yaml:"policy"`
	Grants      []seedGrant       `yaml:"grants"`
}

type seedGrant struct {
	ID                string   `yaml:"id"`
	Name              string   `yaml:"name"`
	GranteePrincipal  string   `yaml:"grantee_principal"`
	RetiringPrincipal string   `yaml:"retiring_principal"`
	Operations        []string `yaml:"operations"`
	Constraints       struct {
		EncryptionContextSubset map[string]string `yaml:"encryption_context_subset"`
		EncryptionContextEquals map[string]string `yaml:"encryption_context_equals"`
	} `yaml:"constraints"`
}

// applySeed creates what the seed file names and the node lacks.
func applySeed(ctx context.Context, n *node, cfg Config, stdout io.Writer) error {
	data, err := os.ReadFile(cfg.Seed)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var f seedFile
	if err := decodeYAML(cfg.Seed, data, &f); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	at := newSeedLines(cfg.Seed, data)
	users, roles, err := seedIdentities(ctx, n.ids, cfg, &f, at)
	if err != nil {
		return err
	}
	created := 0
	for i, k := range f.Keys {
		sk, err := seedKeyOf(cfg, k, func(field string, err error) error {
			return at.errorf(err, "keys", i, field)
		})
		if err != nil {
			return err
		}
		if err := n.ids.EnsureAccount(ctx, sk.AccountID); err != nil {
			return at.errorf(err, "keys", i, "account")
		}
		isNew, err := n.svc.Seed(ctx, sk)
		sk.Material.Wipe()
		var se *kms.SeedError
		if errors.As(err, &se) {
			return at.errorf(errors.New(se.Reason()), "keys", i, materialField(k, se.Field))
		} else if err != nil {
			return at.errorf(err, "keys", i)
		}
		if isNew {
			created++
		}
	}
	if err := applyGenerate(ctx, n, cfg, f.Generate, at, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  seed:  %s: %d keys, %d created now; %d users, %d roles\n", cfg.Seed, len(f.Keys), created, users, roles)
	return nil
}

// seedKeyOf turns one key of the file into what kms.Seed takes; fail
// names the field a mistake is in.
func seedKeyOf(cfg Config, k seedKey, fail func(field string, err error) error) (kms.SeedKey, error) {
	sk := kms.SeedKey{
		AccountID: firstNonEmpty(k.Account, cfg.AccountID), Region: firstNonEmpty(k.Region, cfg.Region),
		KeyID: k.ID, Description: k.Description, KeySpec: k.KeySpec, KeyUsage: k.KeyUsage, Origin: k.Origin,
		Policy: k.Policy, Tags: k.Tags, Aliases: k.Aliases, Disabled: k.Enabled != nil && !*k.Enabled,
		Grants: seedGrantsOf(k.Grants),
	}
	for _, r := range k.Replicas {
		sk.Replicas = append(sk.Replicas, kms.SeedReplica{
			Region: r.Region, Description: r.Description, Disabled: r.Enabled != nil && !*r.Enabled,
			Policy: r.Policy, Tags: r.Tags, Aliases: r.Aliases, Grants: seedGrantsOf(r.Grants),
		})
	}
	given := 0
	for _, s := range []string{k.Material, k.PrivateKey, k.PrivateKeyFile} {
		if s != "" {
			given++
		}
	}
	if given > 1 {
		return sk, fail("material", errors.New("give the key's material once: material, private_key or private_key_file"))
	}
	switch {
	case k.Material != "":
		m, err := base64.StdEncoding.DecodeString(k.Material)
		if err != nil {
			return sk, fail("material", errors.New("not base64"))
		}
		sk.Material = secret.Bytes(m)
	case k.PrivateKey != "":
		m, err := privateKeyMaterial(sk.KeySpec, []byte(k.PrivateKey))
		if err != nil {
			return sk, fail("private_key", err)
		}
		sk.Material = m
	case k.PrivateKeyFile != "":
		path := k.PrivateKeyFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(cfg.Seed), path)
		}
		pemText, err := os.ReadFile(path)
		if err != nil {
			return sk, fail("private_key_file", err)
		}
		m, err := privateKeyMaterial(sk.KeySpec, pemText)
		clear(pemText)
		if err != nil {
			return sk, fail("private_key_file", fmt.Errorf("%s: %w", path, err))
		}
		sk.Material = m
	}
	return sk, nil
}

func seedGrantsOf(gs []seedGrant) []kms.SeedGrant {
	var out []kms.SeedGrant
	for _, g := range gs {
		out = append(out, kms.SeedGrant{
			ID: g.ID, Name: g.Name, GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
			Operations:              g.Operations,
			EncryptionContextSubset: g.Constraints.EncryptionContextSubset,
			EncryptionContextEquals: g.Constraints.EncryptionContextEquals,
		})
	}
	return out
}

// materialField names the setting the key's material came from, for an
// error about the material.
func materialField(k seedKey, field string) string {
	switch {
	case field != "material":
		return field
	case k.PrivateKey != "":
		return "private_key"
	case k.PrivateKeyFile != "":
		return "private_key_file"
	}
	return field
}
