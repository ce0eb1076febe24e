package seal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Path returns where the keyring is kept ("" in memory).
func (s *FileSeal) Path() string { return s.path }

// Kind names the keyring's seal: "file", "pkcs11" or "awskms".
func (s *FileSeal) Kind() string { return kindName(s.prot) }

// Describe says where the keyring is and what protects it, for messages.
func (s *FileSeal) Describe() string {
	if s.prot == nil {
		return s.path
	}
	return s.path + " (wrapped by " + s.prot.Describe() + ")"
}

// Retire removes root key id from the keyring and persists it. The active
// key cannot be retired. The caller must know that nothing sealed or
// authenticated under id is still needed: what it sealed no longer unseals.
func (s *FileSeal) Retire(id uint32) error {
	if s.path == "" {
		return errors.New("seal: an in-memory root keyring cannot be changed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == s.active {
		return fmt.Errorf("seal: root key %d is the active key; rotate first", id)
	}
	i := slices.IndexFunc(s.keys, func(k rootKey) bool { return k.id == id })
	if i < 0 {
		return fmt.Errorf("seal: root keyring %s has no key %d", s.path, id)
	}
	keys := slices.Delete(slices.Clone(s.keys), i, i+1)
	if err := replaceKeyring(s.path, s.active, keys, s.prot); err != nil {
		return err
	}
	s.keys[i].key.Wipe()
	s.keys = keys
	delete(s.aeads, id)
	return nil
}

// Rewrap moves the keyring at path from the seal from to the seal to (nil
// for either: a plaintext file), keeping every root key. The new file is
// written beside the old one, synced and read back through to before it
// replaces the old one, so a crash leaves one complete keyring or the
// other. A plaintext file's content is overwritten with zeros once the
// wrapped one is durable; a journaling file system or an SSD may still
// keep copies of it, which only a root key rotation makes worthless.
func Rewrap(path string, from, to Protector) error {
	active, keys, err := readKeyring(path, from)
	if err != nil {
		return err
	}
	defer wipe(keys)
	data, err := encodeKeyring(active, keys, to)
	if err != nil {
		return err
	}
	defer clear(data)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return fmt.Errorf("seal: write root keyring: %w", err)
	}
	defer os.Remove(tmp)
	// Read it back through the new seal before trusting it.
	gotActive, got, err := readKeyring(tmp, to)
	if err != nil {
		return fmt.Errorf("seal: the rewrapped root keyring does not read back: %w", err)
	}
	same := gotActive == active && len(got) == len(keys)
	for i := range got {
		same = same && got[i].id == keys[i].id && got[i].key.Equal(keys[i].key)
	}
	wipe(got)
	if !same {
		return errors.New("seal: the rewrapped root keyring reads back different keys; the old one is kept")
	}
	var old *os.File
	if from == nil {
		// Keep the plaintext inode open to overwrite it after the rename.
		if old, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
			return fmt.Errorf("seal: open the plaintext root keyring: %w", err)
		}
		defer old.Close()
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("seal: replace root keyring %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("seal: sync directory of root keyring: %w", err)
	}
	if old != nil {
		if err := zeroFile(old); err != nil {
			return fmt.Errorf("seal: the root keyring %s is now wrapped, but its old plaintext content could not be overwritten: %w", path, err)
		}
	}
	return nil
}

// zeroFile overwrites f's content with zeros and syncs it.
func zeroFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, fi.Size()), 0); err != nil {
		return err
	}
	return f.Sync()
}
