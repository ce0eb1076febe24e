package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/kmsd/kmsd/internal/secret"
)

const (
	// checkInfo names the check value derivation. The check value depends
	// on the key bytes only (not its id or file), so the same root key has
	// the same fingerprint in every backup of its keyring.
	checkInfo = "kmsd/root-key-check/v1"
	// CheckValueSize is the length of a root key's check value.
	CheckValueSize = 16
	// derivedPrefix keeps every DeriveKey output apart from the check value.
	derivedPrefix = "kmsd/derived/v1|"
)

// KeyIDs returns the ids of the keyring's root keys, in ascending order.
func (s *FileSeal) KeyIDs() []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]uint32, 0, len(s.keys))
	for _, k := range s.keys {
		ids = append(ids, k.id)
	}
	slices.Sort(ids)
	return ids
}

// CheckValue returns the check value of root key id: HKDF-SHA256 of the key
// with a fixed label, truncated to CheckValueSize bytes. It identifies the
// key, so a store can tell whether it is given the keyring that sealed it;
// it is one-way and safe to print, store and log.
func (s *FileSeal) CheckValue(id uint32) ([]byte, error) {
	key, err := s.rootKey(id)
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	return hkdf.Key(sha256.New, key, nil, checkInfo, CheckValueSize)
}

// DeriveKey returns a 32-byte key derived from root key id with
// HKDF-SHA256 for the given purpose, which must be non-empty. Different
// purposes give independent keys, and none reveals the root key, so other
// packages authenticate their data under the root of trust without seeing it.
func (s *FileSeal) DeriveKey(id uint32, purpose string) (secret.Bytes, error) {
	if purpose == "" {
		return nil, errors.New("seal: DeriveKey needs a purpose")
	}
	key, err := s.rootKey(id)
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	k, err := hkdf.Key(sha256.New, key, nil, derivedPrefix+purpose, 32)
	return secret.Bytes(k), err
}

func (s *FileSeal) rootKey(id uint32) (secret.Bytes, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		if k.id == id {
			// A copy: Retire may wipe the keyring's own while it is used.
			return k.key.Clone(), nil
		}
	}
	return nil, fmt.Errorf("seal: root keyring %s has no key %d", s.path, id)
}
