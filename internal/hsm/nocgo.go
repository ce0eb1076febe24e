//go:build !cgo

package hsm

import "fmt"

// errNoCgo wraps ErrModule so callers treat it like any unloadable module.
var errNoCgo = fmt.Errorf("%w: kmsd was built without cgo; PKCS#11 tokens are unavailable", ErrModule)

// Token is a logged-in connection to one PKCS#11 token. Without cgo none can
// be opened; the type exists so callers compile.
type Token struct{}

// Open always fails in a build without cgo.
func Open(module, tokenLabel, pin string) (*Token, error) { return nil, errNoCgo }

// InitToken always fails in a build without cgo.
func InitToken(module, label, soPIN, pin string) error { return errNoCgo }

// Close does nothing in a build without cgo.
func (t *Token) Close() error { return nil }

// GenerateKey always fails in a build without cgo.
func (t *Token) GenerateKey(label string) error { return errNoCgo }

// HasKey always fails in a build without cgo.
func (t *Token) HasKey(label string) (bool, error) { return false, errNoCgo }

// DeleteKey always fails in a build without cgo.
func (t *Token) DeleteKey(label string) error { return errNoCgo }

// Encrypt always fails in a build without cgo.
func (t *Token) Encrypt(label string, plaintext, aad []byte) ([]byte, error) { return nil, errNoCgo }

// Decrypt always fails in a build without cgo.
func (t *Token) Decrypt(label string, sealed, aad []byte) ([]byte, error) { return nil, errNoCgo }

// Ping always fails in a build without cgo.
func (t *Token) Ping() error { return errNoCgo }
