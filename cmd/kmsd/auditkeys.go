package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// The audit trail's own records in the store: the digest signing key,
// sealed under the root keyring, and the anchor of the newest signed
// digest. Both are authenticated like every record.
var (
	bucketAudit      = []byte("audit")
	auditSigningKey  = []byte("digest-signing-key")
	auditAnchorState = []byte("anchor")
)

// signingKeyAAD binds the sealed signing key to its purpose.
const signingKeyAAD = "kmsd/audit-digest-signing-key/v1"

// sealer seals and unseals under the root keyring.
type sealer interface {
	Seal(plaintext secret.Bytes, aad []byte) ([]byte, error)
	Unseal(sealed, aad []byte) (secret.Bytes, error)
}

// auditSigner returns the Ed25519 key that signs the audit trail's
// digests, creating it on first use. Its seed is stored sealed under the
// root keyring; auditors need only its public key (written beside the log).
func auditSigner(ctx context.Context, st store.Store, sl sealer) (ed25519.PrivateKey, error) {
	return loadAuditSigner(ctx, st, sl, true)
}

// loadAuditSigner returns the digest signing key; create makes one when the
// store has none.
func loadAuditSigner(ctx context.Context, st store.Store, sl sealer, create bool) (ed25519.PrivateKey, error) {
	var seed secret.Bytes
	err := st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketAudit, auditSigningKey)
		if err == nil {
			seed, err = sl.Unseal(b, []byte(signingKeyAAD))
			if err != nil {
				return fmt.Errorf("unseal the audit digest signing key: %w", err)
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !create {
			return errors.New("the store has no audit digest signing key: no kmsd has served from this data directory yet")
		}
		seed = make(secret.Bytes, ed25519.SeedSize)
		_, _ = rand.Read(seed)
		b, err = sl.Seal(seed, []byte(signingKeyAAD))
		if err != nil {
			return err
		}
		return tx.Put(bucketAudit, auditSigningKey, b)
	})
	if err != nil {
		return nil, err
	}
	defer seed.Wipe()
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("audit digest signing key has the wrong size")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// storeAnchor keeps the audit anchor in the store, beside the state the
// audit trail describes, so removing the end of the log directory (the log
// and its digests together) is detected at the next start. Each node of a
// cluster writes its own log, so each has its own anchor, keyed by node.
type storeAnchor struct {
	st   store.Store
	node string // "" outside a cluster
}

func (a storeAnchor) key() []byte {
	if a.node == "" {
		return auditAnchorState
	}
	return []byte(string(auditAnchorState) + "/" + a.node)
}

// Load returns the anchored state, or the zero state.
func (a storeAnchor) Load(ctx context.Context) (audit.AnchorState, error) {
	var s audit.AnchorState
	err := a.st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketAudit, a.key())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &s)
	})
	return s, err
}

// Save replaces the anchored state durably.
func (a storeAnchor) Save(ctx context.Context, s audit.AnchorState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return a.st.Update(ctx, func(tx store.Tx) error { return tx.Put(bucketAudit, a.key(), b) })
}
