package kms

import (
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

// Rotation of symmetric keys with imported material (see import.go and
// rotation.go).

// pendingRotation returns the index of r's imported material pending
// rotation, or -1.
func pendingRotation(r *keyRecord) int {
	return slices.IndexFunc(r.Imports, func(m importRecord) bool { return m.PendingRotation && m.Imported })
}

// rotateToImported makes r's material pending rotation current, as
// RotateKeyOnDemand does for a key with imported material. It is then
// permanently associated with the key.
func rotateToImported(r *keyRecord, at time.Time) {
	i := pendingRotation(r)
	m := &r.Imports[i]
	m.PendingRotation = false
	r.CurrentMaterial = m.ID
	r.Rotations = append(r.Rotations, rotationRecord{MaterialID: m.ID, Date: at, Type: string(kmsapi.RotationTypeOnDemand)})
}

// importedRotationEntries is ListKeyRotations for a symmetric key with
// imported material: its materials in import order with their import
// state, expiration and description; the first one and the one pending
// rotation only with all (ALL_KEY_MATERIAL).
func importedRotationEntries(r *keyRecord, all bool) []kmsapi.RotationsListEntry {
	byMaterial := make(map[string]rotationRecord, len(r.Rotations))
	for _, rot := range r.Rotations {
		byMaterial[rot.MaterialID] = rot
	}
	out := []kmsapi.RotationsListEntry{}
	for _, m := range r.Imports {
		rot, rotated := byMaterial[m.ID]
		if !rotated && !all {
			continue
		}
		e := kmsapi.RotationsListEntry{
			KeyId:                  r.KeyID,
			KeyMaterialId:          m.ID,
			KeyMaterialDescription: m.Description,
			KeyMaterialState:       kmsapi.KeyMaterialStateNonCurrent,
			ImportState:            kmsapi.ImportStatePendingImport,
		}
		switch {
		case m.PendingRotation:
			e.KeyMaterialState = kmsapi.KeyMaterialStatePendingRotation
		case m.ID == r.CurrentMaterial:
			e.KeyMaterialState = kmsapi.KeyMaterialStateCurrent
		}
		if m.Imported {
			e.ImportState = kmsapi.ImportStateImported
			e.ExpirationModel = kmsapi.ExpirationModelType(m.ExpirationModel)
			if m.ValidTo != nil {
				e.ValidTo = kmsapi.Time(*m.ValidTo)
			}
		}
		if rotated {
			e.RotationDate = kmsapi.Time(rot.Date)
			e.RotationType = kmsapi.RotationType(rot.Type)
		}
		out = append(out, e)
	}
	return out
}
