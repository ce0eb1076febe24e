package kms

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// Rotation quotas and defaults, as AWS documents them.
const (
	defaultRotationDays = 365
	// maxOnDemandRotations is AWS's fixed (not adjustable) quota per key.
	maxOnDemandRotations = 25
	// rotationConflictWindow: RotateKeyOnDemand is refused while an
	// automatic rotation is due or due within this window.
	rotationConflictWindow = 20 * time.Minute
)

// rotationRecord is one completed rotation: the material it made current,
// when, and whether the scheduler or a caller asked for it.
type rotationRecord struct {
	MaterialID string    `json:"materialId"`
	Date       time.Time `json:"date"`
	Type       string    `json:"type"` // AUTOMATIC or ON_DEMAND
}

func days(n int32) time.Duration { return time.Duration(n) * 24 * time.Hour }

// rotationKey indexes a key's next automatic rotation by date, like the
// deletions bucket, so the scheduler reads only what is due.
func rotationKey(due time.Time, part, keyID string) []byte { return deletionKey(due, part, keyID) }

// checkRotatable refuses the keys whose material AWS does not rotate:
// asymmetric and HMAC keys, and keys in custom key stores. A key with
// imported (EXTERNAL) material rotates only on demand, and only into new
// material imported for the purpose (ImportType NEW_KEY_MATERIAL, which
// leaves it PENDING_ROTATION until then: import.go).
func checkRotatable(r *keyRecord, onDemand bool) error {
	switch {
	case r.KeySpec != specSymmetric:
		// AWS answers with an empty message here (recorded for
		// RotateKeyOnDemand on an RSA key).
		return kmserr.New(kmserr.UnsupportedOperation, "")
	case r.Origin == string(kmsapi.OriginTypeExternal) && onDemand && pendingRotation(r) < 0:
		return kmserr.New(kmserr.InvalidState, "No available key material pending rotation for the key: %s.", r.arn())
	case r.Origin == string(kmsapi.OriginTypeExternal) && onDemand:
		return nil
	case r.Origin != originAWSKMS:
		return kmserr.New(kmserr.UnsupportedOperation, "%s origin is %s which is not valid for this operation.", r.arn(), r.Origin)
	}
	return nil
}

// setSchedule replaces a key's automatic rotation schedule and its index
// entry; next == nil turns automatic rotation off. The caller stores r in
// the same transaction.
func setSchedule(tx store.Tx, r *keyRecord, period int32, next *time.Time) error {
	if r.NextRotation != nil {
		if err := tx.Delete(bucketRotations, rotationKey(*r.NextRotation, r.partition(), r.KeyID)); err != nil {
			return err
		}
	}
	if next == nil {
		r.RotationEnabled, r.RotationPeriodDays, r.NextRotation = false, 0, nil
		return nil
	}
	r.RotationEnabled, r.RotationPeriodDays, r.NextRotation = true, period, next
	return tx.Put(bucketRotations, rotationKey(*next, r.partition(), r.KeyID), nil)
}

// rotationMaterial makes and seals a new material version for r, and for
// each replica of a multi-Region primary a copy sealed for it, so that
// the rotation's transaction (syncReplicas) reaches every Region.
func (s *Service) rotationMaterial(r *keyRecord) (materialRecord, sealedCopies, error) {
	material := keys.GenerateSymmetric()
	defer material.Wipe()
	m, err := s.newMaterial(r.partition(), r.KeyID, material, keys.NewMaterialID(), originAWSKMS)
	if err != nil {
		return materialRecord{}, nil, kmserr.Internalf("%w", err)
	}
	sc := sealedCopies{}
	if r.isPrimary() {
		for _, region := range r.ReplicaRegions {
			if err := sc.add(s, r, region, m, material); err != nil {
				return materialRecord{}, nil, err
			}
		}
	}
	return m, sc, nil
}

// rotateTo makes m the key's current material. Older versions stay, so
// every ciphertext made under them still decrypts.
func rotateTo(r *keyRecord, m materialRecord, typ kmsapi.RotationType, at time.Time) {
	r.Materials = append(r.Materials, m)
	r.CurrentMaterial = m.ID
	r.Rotations = append(r.Rotations, rotationRecord{MaterialID: m.ID, Date: at, Type: string(typ)})
}

// EnableKeyRotation turns on automatic rotation every RotationPeriodInDays
// (90 to 2560, default 365), counted from now. On a key that already
// rotates automatically it changes the period, counted from the start of the
// current schedule (the enable date or the last automatic rotation); if that
// date has passed, the key rotates at the scheduler's next run.
func (s *Service) EnableKeyRotation(ctx context.Context, c *Call, in *kmsapi.EnableKeyRotationInput) (*kmsapi.EnableKeyRotationOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	period := int32(defaultRotationDays)
	if in.RotationPeriodInDays != nil {
		period = *in.RotationPeriodInDays
	}
	now := s.now()
	c.conditions = requestConditions("kms:rotationperiodindays", strconv.Itoa(int(period)))
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:EnableKeyRotation", ruleCrypto, func(tx store.Tx, r *keyRecord) error {
		if r.isReplica() {
			// Rotation is shared by related multi-Region keys and
			// managed on the primary.
			return errNotPrimary(r.arn())
		}
		if err := checkRotatable(r, false); err != nil {
			return err
		}
		next := now.Add(days(period))
		if r.RotationEnabled && r.NextRotation != nil {
			start := r.NextRotation.Add(-days(r.RotationPeriodDays))
			if next = start.Add(days(period)); next.Before(now) {
				next = now
			}
		}
		return setSchedule(tx, r, period, &next)
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.EnableKeyRotationOutput{}, nil
}

// DisableKeyRotation turns automatic rotation off. Material made by earlier
// rotations stays.
func (s *Service) DisableKeyRotation(ctx context.Context, c *Call, in *kmsapi.DisableKeyRotationInput) (*kmsapi.DisableKeyRotationOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:DisableKeyRotation", ruleCrypto, func(tx store.Tx, r *keyRecord) error {
		if r.isReplica() {
			return errNotPrimary(r.arn())
		}
		if err := checkRotatable(r, false); err != nil {
			return err
		}
		return setSchedule(tx, r, 0, nil)
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.DisableKeyRotationOutput{}, nil
}

// GetKeyRotationStatus reports whether a key rotates automatically, its
// period and next date. It works in every key state and on every key: keys
// that cannot rotate report false, as does a key pending deletion (its
// schedule comes back if the deletion is cancelled). kmsd rotates on demand
// within the request, so no on-demand rotation is ever in progress and
// OnDemandRotationStartDate stays absent.
func (s *Service) GetKeyRotationStatus(ctx context.Context, c *Call, in *kmsapi.GetKeyRotationStatusInput) (*kmsapi.GetKeyRotationStatusOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:GetKeyRotationStatus", nil, nil)
	if err != nil {
		return nil, err
	}
	r := k.rec
	// A multi-Region replica reports the schedule of its primary, which
	// manages rotation for all related keys.
	sched := r
	if r.isReplica() {
		p, err := s.key(ctx, r.AccountID, r.PrimaryRegion, r.KeyID)
		switch {
		case err == nil:
			sched = p.rec
		case !errors.Is(err, errNoKey):
			return nil, kmserr.Internalf("load primary of %s: %w", k.arn, err)
		}
	}
	out := &kmsapi.GetKeyRotationStatusOutput{KeyId: r.KeyID, KeyRotationEnabled: kmsapi.Bool(false)}
	pending := r.KeyState == statePendingDeletion || r.KeyState == statePendingReplicaDeletion
	if sched.RotationEnabled && sched.NextRotation != nil && !pending && checkRotatable(r, false) == nil {
		out.KeyRotationEnabled = kmsapi.Bool(true)
		out.RotationPeriodInDays = kmsapi.Int32(sched.RotationPeriodDays)
		out.NextRotationDate = kmsapi.Time(*sched.NextRotation)
	}
	return out, nil
}

// RotateKeyOnDemand rotates a key's material now, at most 25 times per key.
// The automatic schedule does not move.
func (s *Service) RotateKeyOnDemand(ctx context.Context, c *Call, in *kmsapi.RotateKeyOnDemandInput) (*kmsapi.RotateKeyOnDemandOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:RotateKeyOnDemand", nil, nil)
	if err != nil {
		return nil, err
	}
	// Refuse what the stored record would refuse before making material;
	// updateRecord checks again inside the transaction.
	if err := checkState(k, ruleCrypto); err != nil {
		return nil, err
	}
	if err := checkRotatable(k.rec, true); err != nil {
		return nil, err
	}
	if k.rec.isReplica() {
		return nil, errNotPrimary(k.arn)
	}
	m, sc, err := s.rotationMaterial(k.rec)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &kmsapi.RotateKeyOnDemandOutput{}
	rec, err := s.updateRecord(ctx, k.rec.AccountID, k.rec.Region, k.rec.KeyID, ruleCrypto, func(tx store.Tx, r *keyRecord) error {
		out.KeyId = r.arn()
		c.answer = out
		if err := checkRotatable(r, true); err != nil {
			return err
		}
		if r.isReplica() {
			return errNotPrimary(r.arn())
		}
		n := 0
		for _, rot := range r.Rotations {
			if rot.Type == string(kmsapi.RotationTypeOnDemand) {
				n++
			}
		}
		if n >= maxOnDemandRotations {
			return kmserr.New(kmserr.LimitExceeded, "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: %s", r.arn())
		}
		if r.RotationEnabled && r.NextRotation != nil && r.NextRotation.Sub(now) < rotationConflictWindow {
			return kmserr.New(kmserr.Conflict, "An automatic rotation of %s is in progress or scheduled to begin within the next 20 minutes. Try again later.", r.arn())
		}
		if r.Origin == originExternal {
			// The material imported for the purpose; m goes unused.
			rotateToImported(r, now)
		} else {
			rotateTo(r, m, kmsapi.RotationTypeOnDemand, now)
		}
		return s.syncReplicas(tx, r, sc)
	})
	if err != nil {
		return nil, err
	}
	s.cache.invalidate(rec.groupCacheKeys()...)
	return out, nil
}

// ListKeyRotations pages through a key's completed rotations, oldest first.
// With IncludeKeyMaterial ALL_KEY_MATERIAL the key's first material, which
// no rotation made, leads the list.
func (s *Service) ListKeyRotations(ctx context.Context, c *Call, in *kmsapi.ListKeyRotationsInput) (*kmsapi.ListKeyRotationsOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:ListKeyRotations", nil, nil)
	if err != nil {
		return nil, err
	}
	r := k.rec
	// Keys with imported material list their rotations too.
	if r.Origin != string(kmsapi.OriginTypeExternal) || r.KeySpec != specSymmetric {
		if err := checkRotatable(r, false); err != nil {
			return nil, err
		}
	}
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	entries := rotationEntries(r, in.IncludeKeyMaterial == kmsapi.IncludeKeyMaterialAllKeyMaterial)
	if after != "" {
		i := 0
		for i < len(entries) && entries[i].KeyMaterialId != after {
			i++
		}
		if i == len(entries) {
			return nil, kmserr.New(kmserr.InvalidMarker, "Invalid marker")
		}
		entries = entries[i+1:]
	}
	out := &kmsapi.ListKeyRotationsOutput{Rotations: entries, Truncated: kmsapi.Bool(false)}
	if limit := limitOf(in.Limit, 100); len(entries) > limit {
		out.Rotations = entries[:limit]
		out.Truncated = kmsapi.Bool(true)
		out.NextMarker = encodeMarker(entries[limit-1].KeyMaterialId)
	}
	return out, nil
}

// rotationEntries lists r's materials in the order they were made: those a
// rotation made, and with all also the ones none did.
func rotationEntries(r *keyRecord, all bool) []kmsapi.RotationsListEntry {
	if r.Origin == originExternal {
		return importedRotationEntries(r, all)
	}
	byMaterial := make(map[string]rotationRecord, len(r.Rotations))
	for _, rot := range r.Rotations {
		byMaterial[rot.MaterialID] = rot
	}
	out := []kmsapi.RotationsListEntry{}
	for _, m := range r.Materials {
		rot, rotated := byMaterial[m.ID]
		if !rotated && !all {
			continue
		}
		e := kmsapi.RotationsListEntry{KeyId: r.KeyID, KeyMaterialId: m.ID, KeyMaterialState: kmsapi.KeyMaterialStateNonCurrent}
		if m.ID == r.CurrentMaterial {
			e.KeyMaterialState = kmsapi.KeyMaterialStateCurrent
		}
		if rotated {
			e.RotationDate = kmsapi.Time(rot.Date)
			e.RotationType = kmsapi.RotationType(rot.Type)
		}
		out = append(out, e)
	}
	return out
}
