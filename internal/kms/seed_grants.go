package kms

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// SeedGrant is a grant on a seeded key. Its grantee and retiring
// principal are principal ARNs.
type SeedGrant struct {
	// ID is the grant id, 64 hex digits. Empty: one derived from the key
	// and the grant, so that every kmsd seeded from the same file gives
	// the grant the same id and seeding twice finds it.
	ID                      string
	Name                    string
	GranteePrincipal        string
	RetiringPrincipal       string
	Operations              []string
	EncryptionContextSubset map[string]string
	EncryptionContextEquals map[string]string
}

// planGrants checks the grants of a seeded key as CreateGrant would and
// returns their records, without token keys.
func planGrants(account, region, keyID, spec, usage string, gs []SeedGrant, field string) ([]*grantRecord, error) {
	arn := keyARN(region, account, keyID)
	var out []*grantRecord
	for i, g := range gs {
		f := fmt.Sprintf("%s[%d]", field, i)
		in := &kmsapi.CreateGrantInput{KeyId: keyID, Name: g.Name, GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal}
		for _, op := range g.Operations {
			in.Operations = append(in.Operations, kmsapi.GrantOperation(op))
		}
		if g.EncryptionContextSubset != nil || g.EncryptionContextEquals != nil {
			in.Constraints = &kmsapi.GrantConstraints{EncryptionContextSubset: g.EncryptionContextSubset, EncryptionContextEquals: g.EncryptionContextEquals}
		}
		if err := in.Validate(); err != nil {
			return nil, seedErr(keyID, f, err)
		}
		rec, err := grantFromInput(in)
		if err != nil {
			return nil, seedErr(keyID, f, err)
		}
		if err := checkGrantable(&cachedKey{rec: &keyRecord{KeySpec: spec, KeyUsage: usage}, arn: arn}, rec); err != nil {
			return nil, seedErr(keyID, f, err)
		}
		rec.KeyID, rec.AccountID, rec.Region = keyID, account, region
		rec.IssuingAccount = accountRoot(region, account)
		rec.GrantID = g.ID
		if rec.GrantID == "" {
			rec.GrantID = seedGrantID(arn, rec)
		} else if !validGrantID(rec.GrantID) {
			return nil, seedErr(keyID, f+".id", fmt.Errorf("%q is not a grant id (64 hex digits)", g.ID))
		}
		out = append(out, rec)
	}
	return out, nil
}

// seedGrantID derives a grant's id from its key and every parameter.
func seedGrantID(keyARN string, g *grantRecord) string {
	var b strings.Builder
	b.WriteString("kmsd/seed-grant/v1")
	for _, s := range []string{keyARN, g.Name, g.Grantee, g.Retiring, strings.Join(slices.Sorted(slices.Values(g.Operations)), ","), g.Constraint} {
		fmt.Fprintf(&b, "|%d:%s", len(s), s)
	}
	for _, k := range slices.Sorted(maps.Keys(g.Context)) {
		fmt.Fprintf(&b, "|%d:%s=%d:%s", len(k), k, len(g.Context[k]), g.Context[k])
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// seedGrants adds the grants of key that do not exist yet.
func (s *Service) seedGrants(tx store.Tx, key *keyRecord, grants []*grantRecord, field string) error {
	part := key.partition()
	for i, g := range grants {
		old, err := loadGrant(tx, part, key.KeyID, g.GrantID)
		switch {
		case err == nil && !sameGrant(old, g):
			return seedErr(key.KeyID, fmt.Sprintf("%s[%d].id", field, i), fmt.Errorf("grant %s exists with other parameters", g.GrantID))
		case err == nil:
			continue
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		ng := *g
		ng.Created = s.now()
		if err := s.newGrantKey(&ng); err != nil {
			return err
		}
		if err := putGrant(tx, &ng); err != nil {
			return err
		}
	}
	return nil
}
