package kms

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/secret"
)

// unsealOnce guards a cached key's unsealing: the first use that needs
// the material unseals it, concurrent ones wait for that, later ones see
// done. A failure is not remembered, so the next use tries again.
type unsealOnce struct {
	done atomic.Bool
	mu   sync.Mutex
}

// unsealKey unseals k's material and parses its private key, once.
func (s *Service) unsealKey(k *cachedKey) error {
	if k.unseal.done.Load() {
		return nil
	}
	k.unseal.mu.Lock()
	defer k.unseal.mu.Unlock()
	if k.unseal.done.Load() {
		return nil
	}
	// A key of one material version (nearly every key) keeps it in k
	// itself: one heap object fewer for each cached key.
	materials, asym, err := s.unsealRecord(k.rec, k.one[:0])
	if err != nil {
		return err
	}
	k.materials, k.asym = materials, asym
	k.unseal.done.Store(true) // publishes materials and asym
	return nil
}

// unsealRecord unseals every material version of rec, the current one
// first, into dst when it has room, and parses an asymmetric key's
// current one.
func (s *Service) unsealRecord(rec *keyRecord, dst []namedMaterial) ([]namedMaterial, *keys.AsymmetricKey, error) {
	materials := dst[:0]
	if cap(dst) < len(rec.Materials) {
		materials = make([]namedMaterial, 0, len(rec.Materials))
	}
	for _, m := range rec.Materials {
		pt, err := s.sealer.Unseal(m.Sealed, materialAAD(rec.partition(), rec.KeyID, m.ID))
		if err != nil {
			return nil, nil, fmt.Errorf("unseal material %s of key %s: %w", m.ID, rec.KeyID, err)
		}
		materials = append(materials, namedMaterial{m.ID, pt})
		if m.ID == rec.CurrentMaterial { // first, for currentMaterial
			last := len(materials) - 1
			materials[0], materials[last] = materials[last], materials[0]
		}
	}
	// In FIPS 140-only mode a key of a spec outside the module stays
	// describable; usableFor refuses its cryptographic use.
	if rec.CurrentMaterial == "" || !isAsymmetric(rec.KeySpec) || checkFIPS(rec.KeySpec) != nil {
		return materials, nil, nil
	}
	var cur secret.Bytes
	for _, m := range materials {
		if m.id == rec.CurrentMaterial {
			cur = m.pt
		}
	}
	asym, err := keys.ParsePrivate(rec.KeySpec, cur)
	if err != nil {
		return nil, nil, fmt.Errorf("key %s: parse private key: %w", rec.KeyID, err)
	}
	return materials, asym, nil
}

// needsNoMaterial reports whether action's handler reads only a key's
// record, policy and grants, so lookup may leave the material sealed. An
// action not listed unseals it.
func needsNoMaterial(action string) bool {
	switch action {
	case "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListKeyPolicies", "kms:ListResourceTags",
		"kms:GetKeyRotationStatus", "kms:ListKeyRotations", "kms:GetKeyLastUsage", "kms:ListAliases":
		return true
	}
	return false
}
