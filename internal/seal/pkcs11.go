package seal

import (
	"fmt"
)

// Token is what a pkcs11 seal needs of a logged-in PKCS#11 token
// (hsm.Token): AES-GCM under a non-extractable key found by its label.
type Token interface {
	HasKey(label string) (bool, error)
	GenerateKey(label string) error
	Encrypt(label string, plaintext, aad []byte) ([]byte, error)
	Decrypt(label string, sealed, aad []byte) ([]byte, error)
}

// PKCS11 wraps the keyring with AES-256-GCM inside a token, under a key
// that never leaves it: whoever copies the keyring file needs the token,
// and its PIN, to read it.
type PKCS11 struct {
	token                      Token
	module, tokenLabel, keyLbl string
}

// NewPKCS11 returns a pkcs11 seal using the key keyLabel of token; module
// and tokenLabel only name them in messages.
func NewPKCS11(token Token, module, tokenLabel, keyLabel string) *PKCS11 {
	return &PKCS11{token: token, module: module, tokenLabel: tokenLabel, keyLbl: keyLabel}
}

// Kind is "pkcs11".
func (*PKCS11) Kind() string { return "pkcs11" }

// Describe names the key, the token and the module (never the PIN).
func (p *PKCS11) Describe() string {
	return fmt.Sprintf("key %q in PKCS#11 token %q (module %s)", p.keyLbl, p.tokenLabel, p.module)
}

// Params records the module, token and key label in the wrapped file.
func (p *PKCS11) Params() map[string]string {
	return map[string]string{"module": p.module, "token": p.tokenLabel, "keyLabel": p.keyLbl}
}

// Wrap encrypts the keyring in the token, first generating the wrapping
// key if the token has none of that label (a new keyring, a migration).
// Unwrap never generates one: a missing key there is an error.
func (p *PKCS11) Wrap(plaintext []byte) ([]byte, error) {
	has, err := p.token.HasKey(p.keyLbl)
	if err != nil {
		return nil, err
	}
	if !has {
		if err := p.token.GenerateKey(p.keyLbl); err != nil {
			return nil, fmt.Errorf("generate the wrapping key: %w", err)
		}
	}
	return p.token.Encrypt(p.keyLbl, plaintext, []byte(keyringAAD))
}

// Unwrap decrypts the keyring in the token.
func (p *PKCS11) Unwrap(ciphertext []byte) ([]byte, error) {
	return p.token.Decrypt(p.keyLbl, ciphertext, []byte(keyringAAD))
}
