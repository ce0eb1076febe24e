package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
)

const (
	fileVersion = 1
	rootKeySize = 32 // AES-256
)

// keyringFile is the on-disk form. Key is []byte so encoding/json writes it
// as base64 and the decoded copy can be wiped.
type keyringFile struct {
	Version int          `json:"version"`
	Active  uint32       `json:"active"`
	Keys    []keyringKey `json:"keys"`
}

type keyringKey struct {
	ID      uint32 `json:"id"`
	Key     []byte `json:"key"`
	Created string `json:"created"`
}

type rootKey struct {
	id      uint32
	key     secret.Bytes
	created time.Time
}

func newRootKey(id uint32) rootKey {
	k := make(secret.Bytes, rootKeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return rootKey{id: id, key: k, created: time.Now().UTC().Truncate(time.Second)}
}

// readKeyring loads and validates a keyring file, refusing one that group or
// others can read. prot unwraps a wrapped file; nil reads a plaintext one.
// Either refuses the other kind, naming the seal the file needs.
func readKeyring(path string, prot Protector) (active uint32, keys []rootKey, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		return 0, nil, fmt.Errorf("seal: root keyring %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return 0, nil, fmt.Errorf("seal: root keyring %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	defer clear(data)
	plain, err := unwrapKeyring(path, data, prot)
	if err != nil {
		return 0, nil, err
	}
	defer clear(plain)
	return parseKeyring(path, plain)
}

// parseKeyring decodes and validates the plaintext form of a keyring.
func parseKeyring(path string, data []byte) (active uint32, keys []rootKey, err error) {
	var f keyringFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// json errors name offsets and types, never the key bytes.
		return 0, nil, fmt.Errorf("seal: root keyring %s is not valid: %w", path, err)
	}
	defer func() {
		for _, k := range f.Keys {
			clear(k.Key)
		}
	}()
	if f.Version != fileVersion {
		return 0, nil, fmt.Errorf("seal: root keyring %s has version %d; this kmsd reads version %d", path, f.Version, fileVersion)
	}
	if len(f.Keys) == 0 {
		return 0, nil, fmt.Errorf("seal: root keyring %s holds no keys", path)
	}
	seen := make(map[uint32]bool, len(f.Keys))
	for _, k := range f.Keys {
		if seen[k.ID] {
			return 0, nil, fmt.Errorf("seal: root keyring %s lists key id %d twice", path, k.ID)
		}
		seen[k.ID] = true
		if len(k.Key) != rootKeySize {
			return 0, nil, fmt.Errorf("seal: root keyring %s: key %d is %d bytes, want %d", path, k.ID, len(k.Key), rootKeySize)
		}
		created, err := time.Parse(time.RFC3339, k.Created)
		if err != nil {
			return 0, nil, fmt.Errorf("seal: root keyring %s: key %d has a bad created time: %w", path, k.ID, err)
		}
		keys = append(keys, rootKey{id: k.ID, key: secret.Bytes(k.Key).Clone(), created: created})
	}
	if !seen[f.Active] {
		return 0, nil, fmt.Errorf("seal: root keyring %s: active key %d is not in the keyring", path, f.Active)
	}
	return f.Active, keys, nil
}

// encodeKeyring returns the file content of a keyring: its plaintext form,
// or that form wrapped by prot.
func encodeKeyring(active uint32, keys []rootKey, prot Protector) ([]byte, error) {
	f := keyringFile{Version: fileVersion, Active: active}
	for _, k := range keys {
		f.Keys = append(f.Keys, keyringKey{ID: k.id, Key: []byte(k.key), Created: k.created.UTC().Format(time.RFC3339)})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic("seal: encoding keyring: " + err.Error()) // plain data cannot fail to marshal
	}
	data = append(data, '\n')
	if prot == nil {
		return data, nil
	}
	defer clear(data)
	return wrapKeyring(data, prot)
}

// writeTemp writes data to a synced 0600 temp file beside path and returns
// its name; the caller moves it into place.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(0o600) // CreateTemp already uses 0600; be explicit about intent
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// createKeyring writes a new keyring only if path does not exist yet. It links
// rather than renames the temp file so that two processes starting at once
// cannot overwrite each other's root key; the loser gets fs.ErrExist.
func createKeyring(path string, active uint32, keys []rootKey, prot Protector) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("seal: create directory for root keyring: %w", err)
	}
	data, err := encodeKeyring(active, keys, prot)
	if err != nil {
		return err
	}
	defer clear(data)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return fmt.Errorf("seal: write root keyring: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return fmt.Errorf("seal: create root keyring %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: sync directory of root keyring: %w", err)
	}
	return nil
}

// replaceKeyring atomically replaces the keyring at path.
func replaceKeyring(path string, active uint32, keys []rootKey, prot Protector) error {
	data, err := encodeKeyring(active, keys, prot)
	if err != nil {
		return err
	}
	defer clear(data)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return fmt.Errorf("seal: write root keyring: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("seal: replace root keyring %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: sync directory of root keyring: %w", err)
	}
	return nil
}
