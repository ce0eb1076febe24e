package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/store"
)

// ErrNoCheck is returned for a store that records no root keyring check
// value: one never opened by a kmsd that keeps it, or not a kmsd store.
var ErrNoCheck = errors.New("the store holds no check value of the root keyring that sealed it")

// Fingerprints returns the root keys the store inner records, without
// a keyring: what a backup or a data directory expects.
func Fingerprints(ctx context.Context, inner store.Store) ([]Fingerprint, error) {
	var fps []Fingerprint
	err := inner.View(ctx, func(t store.Tx) error {
		c, err := readCheck(t)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoCheck
		}
		if err == nil {
			fps = c.fingerprints()
		}
		return err
	})
	return fps, err
}

// OpenReadOnly is Open for a store that must not change: a store being
// checked, a backup before it is restored. It writes nothing, so it
// refuses a store without a check record (ErrNoCheck) instead of adopting
// it, and records no root key the keyring gained. A keyring that is not
// the store's is refused with a *KeyringError, as Open does.
func OpenReadOnly(ctx context.Context, inner store.Store, cfg Config) (*Store, error) {
	found, err := keyringFingerprints(cfg.Keyring)
	if err != nil {
		return nil, err
	}
	var s *Store
	err = inner.View(ctx, func(t store.Tx) error {
		c, err := readCheck(t)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoCheck
		}
		if err != nil {
			return err
		}
		if ok, _ := c.match(found); !ok {
			return &KeyringError{Path: cfg.KeyringPath, Expected: c.fingerprints(), Found: found}
		}
		s = newStore(inner, cfg.Keyring, c.storeID())
		return nil
	})
	return s, err
}

// Backend is the store beneath the authentication, for tools that work on
// the stored bytes as they are: a backup, an integrity check. Everything
// else goes through s.
func (s *Store) Backend() store.Store { return s.inner }

// Verified counts what Verify read.
type Verified struct {
	Buckets, Records, Failed int
}

// verifyPage bounds the records held in memory at once while verifying.
const verifyPage = 512

// Verify authenticates every record of every bucket in one snapshot, and
// calls bad, in order, for each record that fails with an error wrapping
// ErrNotAuthentic that names its bucket and key, never its value. A store
// whose every record passes was written only through this store's root
// keyring (rolled-back records aside: see the package documentation).
func (s *Store) Verify(ctx context.Context, bad func(error)) (Verified, error) {
	var v Verified
	err := s.inner.View(ctx, func(t store.Tx) error {
		v = Verified{}
		names, err := buckets(t)
		if err != nil {
			return err
		}
		for _, b := range names {
			if bytes.Equal(b, metaBucket) {
				continue
			}
			v.Buckets++
			if err := s.verifyBucket(ctx, t, b, &v, bad); err != nil {
				return err
			}
		}
		return nil
	})
	return v, err
}

func (s *Store) verifyBucket(ctx context.Context, t store.Tx, b []byte, v *Verified, bad func(error)) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		kvs, err := t.Scan(b, nil, after, verifyPage)
		if err != nil {
			return fmt.Errorf("store/sealed: read bucket %q: %w", b, err)
		}
		for _, kv := range kvs {
			v.Records++
			if _, err := s.openRecord(b, kv.Key, kv.Value); err != nil {
				v.Failed++
				bad(err)
			}
		}
		if len(kvs) < verifyPage {
			return nil
		}
		after = kvs[len(kvs)-1].Key
	}
}
