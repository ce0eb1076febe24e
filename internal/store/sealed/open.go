package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/kmsd/kmsd/internal/store"
)

// Config says how to open a Store.
type Config struct {
	// Keyring is the root keyring; KeyringPath says where it was read,
	// for error messages.
	Keyring     Keyring
	KeyringPath string
	// Probe decides, for a store written before stores recorded their
	// keyring's check values, whether Keyring is the keyring that sealed
	// it: it looks for one sealed value in the store (reading the raw
	// values through tx) and reports whether it found one and whether
	// Keyring unsealed it; err is for a store it could not read. A store
	// whose value does not unseal is refused; one without sealed values,
	// or opened without a Probe, is adopted on trust.
	Probe func(tx store.Tx) (found, unsealed bool, err error)
	// Logger hears about an adoption. nil: nothing is logged.
	Logger *slog.Logger
}

// KeyringError reports a root keyring that is missing or is not the one
// that sealed the store. Its message says where kmsd looked, which root
// keys the store expects and which it found.
type KeyringError struct {
	Path     string
	Missing  bool          // no keyring at Path
	Expected []Fingerprint // empty for a store that recorded none
	Found    []Fingerprint // the keyring's, when it exists
}

func (e *KeyringError) Error() string {
	var b strings.Builder
	switch {
	case e.Missing:
		fmt.Fprintf(&b, "root keyring %s is missing, but this store holds records sealed by it", e.Path)
	case len(e.Expected) == 0:
		fmt.Fprintf(&b, "root keyring %s is not the one that sealed this store: it does not unseal the store's sealed material", e.Path)
	default:
		fmt.Fprintf(&b, "root keyring %s is not the one that sealed this store", e.Path)
	}
	if len(e.Expected) > 0 {
		fmt.Fprintf(&b, "; expected %s", listFingerprints(e.Expected))
	} else {
		b.WriteString(" (the store was written by an earlier kmsd, which kept no fingerprint of its root keyring)")
	}
	if len(e.Found) > 0 {
		fmt.Fprintf(&b, "; found %s", listFingerprints(e.Found))
	}
	if e.Missing {
		fmt.Fprintf(&b, ". Restore %s from a backup of this data directory; a new root keyring is made only for an empty store", e.Path)
	} else {
		fmt.Fprintf(&b, ". Restore this data directory's own root keyring to %s from a backup, or use the data directory this keyring belongs to", e.Path)
	}
	return b.String()
}

func listFingerprints(fps []Fingerprint) string {
	s := make([]string, len(fps))
	for i, f := range fps {
		s[i] = f.String()
	}
	return strings.Join(s, ", ")
}

// CanCreateKeyring returns nil if inner holds no record, so that a new
// root keyring may be made for it, and otherwise a *KeyringError saying
// that the keyring at keyringPath is missing and which root keys the store
// expects.
func CanCreateKeyring(ctx context.Context, inner store.Store, keyringPath string) error {
	return inner.View(ctx, func(t store.Tx) error {
		c, err := readCheck(t)
		if err == nil {
			return &KeyringError{Path: keyringPath, Missing: true, Expected: c.fingerprints()}
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		empty, err := isEmpty(t)
		if err == nil && !empty {
			err = &KeyringError{Path: keyringPath, Missing: true}
		}
		return err
	})
}

// Open returns inner with every value authenticated under cfg.Keyring. It
// refuses, with a *KeyringError, a keyring that is not the one the store
// recorded. A new store records the keyring's check values. A store
// written before stores recorded them is adopted: if cfg.Probe accepts the
// keyring, every existing value is tagged and the check values recorded,
// in one transaction.
func Open(ctx context.Context, inner store.Store, cfg Config) (*Store, error) {
	found, err := keyringFingerprints(cfg.Keyring)
	if err != nil {
		return nil, err
	}
	var s *Store
	var adopted int
	var proven bool
	err = inner.Update(ctx, func(t store.Tx) error {
		adopted, proven = 0, false
		c, err := readCheck(t)
		if err == nil {
			ok, grew := c.match(found)
			if !ok {
				return &KeyringError{Path: cfg.KeyringPath, Expected: c.fingerprints(), Found: found}
			}
			s = newStore(inner, cfg.Keyring, c.storeID())
			if grew {
				return writeCheck(t, c)
			}
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		empty, err := isEmpty(t)
		if err != nil {
			return err
		}
		if !empty && cfg.Probe != nil {
			var sealedValue bool
			if sealedValue, proven, err = cfg.Probe(t); err != nil {
				return fmt.Errorf("store/sealed: look for a sealed value to check the root keyring against: %w", err)
			}
			if sealedValue && !proven {
				return &KeyringError{Path: cfg.KeyringPath, Found: found}
			}
		}
		c = newCheck()
		c.match(found)
		s = newStore(inner, cfg.Keyring, c.storeID())
		if !empty {
			if adopted, err = s.adopt(t); err != nil {
				return err
			}
		}
		return writeCheck(t, c)
	})
	if err != nil {
		return nil, err
	}
	if cfg.Logger != nil && adopted > 0 {
		msg := "store adopted: every record is now authenticated under the root keyring, whose fingerprint the store keeps"
		if proven {
			cfg.Logger.Info(msg, "records", adopted, "keyring", cfg.KeyringPath, "fingerprint", listFingerprints(found))
		} else {
			cfg.Logger.Warn(msg+"; the store held no sealed value to prove the keyring against, so it was taken on trust",
				"records", adopted, "keyring", cfg.KeyringPath, "fingerprint", listFingerprints(found))
		}
	}
	return s, nil
}

// adoptPage bounds the values held in memory at once while adopting.
const adoptPage = 512

// adopt tags every value of every bucket in place, inside t.
func (s *Store) adopt(t store.Tx) (int, error) {
	names, err := buckets(t)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range names {
		if bytes.Equal(b, metaBucket) {
			continue
		}
		var after []byte
		for {
			kvs, err := t.Scan(b, nil, after, adoptPage)
			if err != nil {
				return n, err
			}
			for _, kv := range kvs {
				rec, err := s.sealRecord(b, kv.Key, kv.Value)
				if err != nil {
					return n, err
				}
				if err := t.Put(b, kv.Key, rec); err != nil {
					return n, err
				}
				n++
			}
			if len(kvs) < adoptPage {
				break
			}
			after = kvs[len(kvs)-1].Key
		}
	}
	return n, nil
}
