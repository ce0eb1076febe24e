package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
)

// ErrUnseal is returned for every Unseal failure: unknown version or root
// key, truncation, tampering, wrong aad. One error, so it is no oracle.
var ErrUnseal = errors.New("seal: cannot unseal record")

const (
	sealVersion = 0x01
	headerSize  = 1 + 4 // version | root key id
	nonceSize   = 12
	tagSize     = 16
)

// FileSeal seals key material under a root keyring kept in a local file.
// It is safe for concurrent use. Only one process should Rotate a given file.
type FileSeal struct {
	path string
	prot Protector // wraps the file's content; nil keeps it plaintext

	mu     sync.RWMutex
	active uint32
	keys   []rootKey              // kept to rewrite the file on Rotate
	aeads  map[uint32]cipher.AEAD // one per root key, built once
}

// OpenFile opens the root keyring at path, creating it with one fresh
// AES-256 root key if it does not exist. It suits a directory known to be
// new; a server opens an existing store's keyring with Open, so that a
// missing keyring is noticed instead of replaced.
func OpenFile(path string) (*FileSeal, error) {
	s, err := Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		s, err = Create(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use theirs.
			s, err = Open(path)
		}
	}
	return s, err
}

// Open opens the existing root keyring at path. A missing file is an error
// wrapping fs.ErrNotExist.
func Open(path string) (*FileSeal, error) {
	return OpenWith(path, nil)
}

// OpenWith opens the existing root keyring at path, wrapped by prot (nil:
// a plaintext file). A file of the other kind is refused with a
// *SealError naming the seal it needs. Temp keyring files that a crash
// left beside it are overwritten and removed.
func OpenWith(path string, prot Protector) (*FileSeal, error) {
	active, keys, err := readKeyring(path, prot)
	if err != nil {
		return nil, err
	}
	removeStaleTemps(path, time.Now())
	return newFileSeal(path, prot, active, keys)
}

// Create makes a new root keyring at path holding one fresh AES-256 root
// key. It never overwrites: if path exists it fails with fs.ErrExist.
func Create(path string) (*FileSeal, error) {
	return CreateWith(path, nil)
}

// CreateWith is Create for a keyring wrapped by prot (nil: plaintext).
func CreateWith(path string, prot Protector) (*FileSeal, error) {
	active, keys := uint32(1), []rootKey{newRootKey(1)}
	if err := createKeyring(path, active, keys, prot); err != nil {
		wipe(keys)
		return nil, err
	}
	return newFileSeal(path, prot, active, keys)
}

func newFileSeal(path string, prot Protector, active uint32, keys []rootKey) (*FileSeal, error) {
	s := &FileSeal{path: path, prot: prot, active: active, keys: keys, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for _, k := range keys {
		a, err := newAEAD(k.key)
		if err != nil {
			wipe(keys)
			return nil, err
		}
		s.aeads[k.id] = a
	}
	return s, nil
}

func newAEAD(key secret.Bytes) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: root key: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(b)
}

func wipe(keys []rootKey) {
	for _, k := range keys {
		k.key.Wipe()
	}
}

// ActiveID returns the id of the root key that new seals use.
func (s *FileSeal) ActiveID() uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.active
}

// Seal encrypts plaintext under the active root key, binding aad to it.
func (s *FileSeal) Seal(plaintext secret.Bytes, aad []byte) ([]byte, error) {
	s.mu.RLock()
	id, a := s.active, s.aeads[s.active]
	s.mu.RUnlock()

	out := make([]byte, headerSize, headerSize+nonceSize+len(plaintext)+tagSize)
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:], id)
	return a.Seal(out, nil, plaintext, additionalData(out[:headerSize], aad)), nil
}

// Unseal reverses Seal. Any failure returns ErrUnseal.
func (s *FileSeal) Unseal(sealed, aad []byte) (secret.Bytes, error) {
	if len(sealed) < headerSize+nonceSize+tagSize || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	s.mu.RLock()
	a, ok := s.aeads[binary.BigEndian.Uint32(sealed[1:headerSize])]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrUnseal
	}
	pt, err := a.Open(nil, nil, sealed[headerSize:], additionalData(sealed[:headerSize], aad))
	if err != nil {
		return nil, ErrUnseal
	}
	return secret.Bytes(pt), nil
}

func additionalData(header, aad []byte) []byte {
	return append(slices.Clip(header), aad...)
}

// Rotate adds a new root key, persists the keyring and makes the new key
// active. Older keys stay to unseal existing records. If the file cannot be
// written, nothing changes.
func (s *FileSeal) Rotate() (uint32, error) {
	if s.path == "" {
		return 0, errors.New("seal: an in-memory root keyring cannot be rotated")
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	var maxID uint32
	for _, k := range s.keys {
		maxID = max(maxID, k.id)
	}
	if maxID == math.MaxUint32 {
		return 0, fmt.Errorf("seal: root keyring %s has no key ids left", s.path)
	}
	k := newRootKey(maxID + 1)
	a, err := newAEAD(k.key)
	if err != nil {
		k.key.Wipe()
		return 0, err
	}
	keys := append(slices.Clip(s.keys), k)
	if err := replaceKeyring(s.path, k.id, keys, s.prot); err != nil {
		k.key.Wipe()
		return 0, err
	}
	s.keys, s.active, s.aeads[k.id] = keys, k.id, a
	return k.id, nil
}
