package seal

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// A Protector wraps the root keyring's file content under a key that lives
// elsewhere (a PKCS#11 token, a KMS key), so that the file alone reveals no
// root key. A nil Protector keeps the keyring as a plaintext file.
type Protector interface {
	// Kind names the seal as configured: "pkcs11" or "awskms".
	Kind() string
	// Describe names the wrapping key for messages, without any secret.
	Describe() string
	// Wrap encrypts the serialized keyring.
	Wrap(plaintext []byte) ([]byte, error)
	// Unwrap reverses Wrap. Errors say what the wrapping key's holder
	// answered, never the plaintext.
	Unwrap(ciphertext []byte) ([]byte, error)
}

// A Describer records, in the wrapped file, the settings that name its
// wrapping key (no secret), so that tools can open the keyring as the
// server that wrote it does.
type Describer interface {
	Params() map[string]string
}

// wrappedFormat marks a keyring file whose content is wrapped.
const wrappedFormat = "kmsd-wrapped-root-keyring/v1"

// wrappedFile is the on-disk form of a wrapped keyring. Seal and WrappedBy
// are informational: they let a refusal name the seal a file needs.
type wrappedFile struct {
	Format     string            `json:"format"`
	Seal       string            `json:"seal"`
	WrappedBy  string            `json:"wrappedBy"`
	Params     map[string]string `json:"params,omitempty"`
	Ciphertext []byte            `json:"ciphertext"`
}

// SealError reports a keyring file that the configured seal cannot open:
// a wrapped file opened as plaintext, a plaintext file opened with a
// seal, or a file wrapped by another kind of seal.
type SealError struct {
	Path      string
	FileSeal  string // "file" for a plaintext keyring
	WrappedBy string // the file's wrapping key, if wrapped
	Want      string // the configured seal
}

func (e *SealError) Error() string {
	if e.FileSeal == "file" {
		return fmt.Sprintf("seal: root keyring %s is a plaintext file, but kmsd is configured with seal %s: wrap it first with kmsd admin migrate-seal --to %s", e.Path, e.Want, e.Want)
	}
	return fmt.Sprintf("seal: root keyring %s is wrapped by seal %s (%s), but kmsd is configured with seal %s: start kmsd with --seal %s and its settings", e.Path, e.FileSeal, e.WrappedBy, e.Want, e.FileSeal)
}

// Recorded returns the seal kind of a keyring file's content and the
// settings its seal recorded (nil for a plaintext keyring).
func Recorded(data []byte) (kind string, params map[string]string) {
	var head struct {
		Format string            `json:"format"`
		Seal   string            `json:"seal"`
		Params map[string]string `json:"params"`
	}
	if json.Unmarshal(data, &head) != nil || head.Format != wrappedFormat {
		return "file", nil
	}
	return head.Seal, head.Params
}

// KindOf returns the seal kind of a keyring file's content: "file" for a
// plaintext keyring, else the kind recorded by the seal that wrapped it.
func KindOf(data []byte) (kind, wrappedBy string) {
	var head struct {
		Format    string `json:"format"`
		Seal      string `json:"seal"`
		WrappedBy string `json:"wrappedBy"`
	}
	// Unknown fields (a plaintext keyring's keys) are skipped, not kept.
	if json.Unmarshal(data, &head) != nil || head.Format != wrappedFormat {
		return "file", ""
	}
	return head.Seal, head.WrappedBy
}

func kindName(prot Protector) string {
	if prot == nil {
		return "file"
	}
	return prot.Kind()
}

// unwrapKeyring returns the plaintext form of a keyring file's content.
func unwrapKeyring(path string, data []byte, prot Protector) ([]byte, error) {
	kind, by := KindOf(data)
	if kind != kindName(prot) {
		return nil, &SealError{Path: path, FileSeal: kind, WrappedBy: by, Want: kindName(prot)}
	}
	if prot == nil {
		return bytes.Clone(data), nil
	}
	var f wrappedFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("seal: wrapped root keyring %s is not valid: %w", path, err)
	}
	plain, err := prot.Unwrap(f.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("seal: unwrap root keyring %s with %s: %w", path, prot.Describe(), err)
	}
	return plain, nil
}

// wrapKeyring returns the file content of a keyring wrapped by prot.
func wrapKeyring(plain []byte, prot Protector) ([]byte, error) {
	ct, err := prot.Wrap(plain)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap root keyring with %s: %w", prot.Describe(), err)
	}
	f := wrappedFile{Format: wrappedFormat, Seal: prot.Kind(), WrappedBy: prot.Describe(), Ciphertext: ct}
	if d, ok := prot.(Describer); ok {
		f.Params = d.Params()
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
