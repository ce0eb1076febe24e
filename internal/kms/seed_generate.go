package kms

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// SeedGenerated asks for Count keys of one kind, made up at start, for a
// large benchmark or test store. Key n (from 0) lives in Regions[n mod
// len(Regions)], so the keys spread evenly; its id is GeneratedKeyID's, so
// every run of the same seed names the same keys, and its material is
// fresh. Like Seed, generating writes the records as CreateKey would,
// authorizes no caller and audits nothing.
type SeedGenerated struct {
	AccountID string
	Regions   []string
	// Entry tells the seed's entries apart in the key ids: its place in the
	// seed's list.
	Entry       int
	Count       int
	Description string
	KeySpec     string // default SYMMETRIC_DEFAULT; never EXTERNAL
	KeyUsage    string // default: the spec's first usage
	Policy      string // default: the default key policy
	Tags        map[string]string
	// AliasPrefix, if set, gives key n the alias AliasPrefix followed by
	// n+1 in seven digits at least (alias/gen-0000001).
	AliasPrefix string
}

// seedBatch is how many generated keys one store transaction writes: one
// fsync for many keys, while a batch stays a few MiB in memory.
const seedBatch = 2000

// GeneratedKeyID returns the id of key n of entry: a version 4 UUID's shape
// made of a hash of the account, the Region, the entry and n, so that the
// same seed always names the same keys.
func GeneratedKeyID(account, region string, entry, n int) string {
	h := sha256.Sum256([]byte("kmsd/seed-generate/v1|" + account + "|" + region + "|" + strconv.Itoa(entry) + "|" + strconv.Itoa(n)))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&0x0f])
	}
	return string(out)
}

// Key returns the Region, id and alias ("" without AliasPrefix) of key n.
func (g *SeedGenerated) Key(n int) (region, keyID, alias string) {
	region = g.Regions[n%len(g.Regions)]
	if g.AliasPrefix != "" {
		alias = fmt.Sprintf("%s%07d", g.AliasPrefix, n+1)
	}
	return region, GeneratedKeyID(g.AccountID, region, g.Entry, n), alias
}

// genKey is one generated key of a batch: its record when it is to be
// created, and its alias when that is to be created.
type genKey struct {
	region, id, alias string
	rec               *keyRecord
}

type genBatch struct {
	keys []genKey
	err  error
}

// SeedGenerate creates the keys g asks for that do not exist yet, and the
// aliases they lack, and returns how many keys it created; running it again
// creates nothing. Workers, as many as GOMAXPROCS, check a batch of keys in
// one read transaction and generate and seal the material of those missing,
// while one writer stores batch after batch, each in one transaction; the
// keys in flight stay a few batches, whatever Count is. progress, if not
// nil, is called after each batch with the keys done so far. Errors are
// *SeedError, and what was stored before one stays.
func (s *Service) SeedGenerate(ctx context.Context, g SeedGenerated, progress func(done int)) (int, error) {
	base, err := s.planGenerate(ctx, &g)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	starts := make(chan int)
	ready := make(chan genBatch, 1)
	go func() {
		defer close(starts)
		for lo := 0; lo < g.Count; lo += seedBatch {
			select {
			case starts <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ready)
		finished := make(chan struct{}, workers)
		for range workers {
			go func() {
				defer func() { finished <- struct{}{} }()
				for lo := range starts {
					b := s.prepareGenerated(ctx, &g, base, lo, min(lo+seedBatch, g.Count))
					select {
					case ready <- b:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		for range workers {
			<-finished
		}
	}()
	created, keysDone := 0, 0
	for b := range ready {
		if err == nil {
			if err = b.err; err == nil {
				var n int
				n, err = s.storeGenerated(ctx, &g, b.keys)
				created += n
			}
			if err != nil {
				cancel() // the workers stop; the batches they made are dropped
				continue
			}
			keysDone += len(b.keys)
			if progress != nil {
				progress(keysDone)
			}
		}
	}
	<-done
	if err == nil {
		err = ctx.Err()
	}
	var se *SeedError
	if err != nil && !errors.As(err, &se) {
		err = &SeedError{KeyID: fmt.Sprintf("of generate[%d]", g.Entry), Err: err}
	}
	return created, err
}

// planGenerate checks g and returns what every generated key shares.
func (s *Service) planGenerate(ctx context.Context, g *SeedGenerated) (*seedPlan, error) {
	fail := func(field string, err error) (*seedPlan, error) {
		return nil, &SeedError{KeyID: fmt.Sprintf("of generate[%d]", g.Entry), Field: field, Err: err}
	}
	if g.Count <= 0 {
		return fail("count", errors.New("give the number of keys to generate, 1 or more"))
	}
	seen := map[string]bool{}
	for i, r := range g.Regions {
		switch {
		case !validRegionName(r):
			return fail(fmt.Sprintf("regions[%d]", i), fmt.Errorf("%q is not a Region name", r))
		case !s.servesRegion(r):
			return fail(fmt.Sprintf("regions[%d]", i), fmt.Errorf("this kmsd does not serve %s (it serves %s)", r, strings.Join(s.regionList, ", ")))
		case seen[r]:
			return fail(fmt.Sprintf("regions[%d]", i), fmt.Errorf("%s is listed twice", r))
		}
		seen[r] = true
	}
	if len(g.Regions) == 0 {
		return fail("regions", errors.New("name at least one Region"))
	}
	if per := (g.Count + len(g.Regions) - 1) / len(g.Regions); per > s.limits.KeysPerAccount {
		least := (g.Count + s.limits.KeysPerAccount - 1) / s.limits.KeysPerAccount
		what := fmt.Sprintf("%d keys in %d Regions put %d keys in %s, more than", g.Count, len(g.Regions), per, g.Regions[0])
		if len(g.Regions) == 1 {
			what = fmt.Sprintf("%d keys in %s exceed", g.Count, g.Regions[0])
		}
		return fail("count", fmt.Errorf("%s AWS's quota of %d KMS keys per account and Region; spread them over %d Regions or more",
			what, s.limits.KeysPerAccount, least))
	}
	if g.AliasPrefix != "" {
		if err := checkAliasName(g.AliasPrefix + "0000001"); err != nil {
			return fail("alias_prefix", errors.New(kmsMessage(err)))
		}
	}
	// The plan of a key checks the rest as a seeded key's, under an id of
	// the entry's.
	region, id, _ := g.Key(0)
	p, err := s.planSeed(ctx, SeedKey{AccountID: g.AccountID, Region: region, KeyID: id, Description: g.Description,
		KeySpec: g.KeySpec, KeyUsage: g.KeyUsage, Policy: g.Policy, Tags: g.Tags})
	if err != nil {
		var se *SeedError
		if errors.As(err, &se) {
			return fail(se.Field, se.Err)
		}
		return nil, err
	}
	for _, r := range g.Regions[1:] {
		if err := checkSpecUsage(p.sk.KeySpec, p.sk.KeyUsage, r); err != nil {
			return fail("key_spec", err)
		}
	}
	return p, nil
}

func kmsMessage(err error) string {
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// prepareGenerated finds which of keys lo to hi-1 of g, and which of their
// aliases, are missing, and makes the records of the missing keys with
// fresh sealed material.
func (s *Service) prepareGenerated(ctx context.Context, g *SeedGenerated, base *seedPlan, lo, hi int) genBatch {
	ks := make([]genKey, hi-lo)
	missing := make([]bool, hi-lo)
	err := s.store.View(ctx, func(tx store.Tx) error {
		for i := range ks {
			k := &ks[i]
			k.region, k.id, k.alias = g.Key(lo + i)
			_, err := tx.Get(bucketKeys, keyKey(g.AccountID, k.region, k.id))
			switch {
			case errors.Is(err, store.ErrNotFound):
				missing[i] = true
			case err != nil:
				return err
			}
			if k.alias == "" {
				continue
			}
			a, err := loadAlias(tx, g.AccountID, k.region, k.alias)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case a.TargetKeyID != k.id:
				return &SeedError{KeyID: k.id, Field: "alias_prefix", Err: fmt.Errorf("alias %s already points at key %s", k.alias, a.TargetKeyID)}
			default:
				k.alias = "" // there already
			}
		}
		return nil
	})
	if err != nil {
		return genBatch{err: err}
	}
	for i := range ks {
		if !missing[i] {
			continue
		}
		k := &ks[i]
		p := *base
		p.sk.KeyID = k.id
		rec, err := s.newSeedRecord(&p, k.region, p.sk.Description, false, p.policy, p.bound, p.tags)
		if err == nil {
			err = s.seedOwnMaterial(rec, &p)
		}
		if err != nil {
			return genBatch{err: err}
		}
		k.rec = rec
	}
	return genBatch{keys: ks}
}

// storeGenerated writes one batch in one transaction: the keys that are
// still missing, counted against the quota of their account and Region,
// and the aliases.
func (s *Service) storeGenerated(ctx context.Context, g *SeedGenerated, ks []genKey) (int, error) {
	work := false
	for _, k := range ks {
		work = work || k.rec != nil || k.alias != ""
	}
	if !work {
		return 0, nil
	}
	created := 0
	var touched []string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		created, touched = 0, touched[:0]
		for _, k := range ks {
			if k.rec != nil {
				_, err := tx.Get(bucketKeys, keyKey(g.AccountID, k.region, k.id))
				switch {
				case errors.Is(err, store.ErrNotFound):
					if err := s.insertKey(tx, k.rec); err != nil {
						var ke *kmserr.Error
						if errors.As(err, &ke) && ke.Code == kmserr.LimitExceeded {
							return &SeedError{KeyID: k.id, Field: "count", Err: fmt.Errorf("account %s has reached AWS's quota of %d KMS keys per account and Region in %s", g.AccountID, s.limits.KeysPerAccount, k.region)}
						}
						return err
					}
					created++
					touched = append(touched, cacheKeyID(g.AccountID, k.region, k.id))
				case err != nil:
					return err
				}
			}
			if k.alias != "" {
				inval, err := seedAliases(tx, s, g.AccountID, k.region, k.id, []string{k.alias}, "alias_prefix")
				if err != nil {
					return err
				}
				touched = append(touched, inval...)
			}
		}
		return nil
	})
	s.cache.invalidate(touched...)
	if err != nil {
		var se *SeedError
		if errors.As(err, &se) && strings.HasPrefix(se.Field, "alias_prefix[") {
			se.Field = "alias_prefix"
		}
		return 0, err
	}
	return created, nil
}
