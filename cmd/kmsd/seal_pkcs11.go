package main

import (
	"fmt"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/seal"
)

// openPKCS11Seal logs in to the token that wraps the keyring. Its error
// names the module and the token and carries the PKCS#11 error; never the
// PIN.
func openPKCS11Seal(c PKCS11SealConfig, pin string) (seal.Protector, func(), error) {
	tok, err := hsm.Open(c.Module, c.Token, pin)
	if err != nil {
		return nil, func() {}, fmt.Errorf("seal pkcs11: cannot open token %q with module %s: %w; kmsd does not start without the token that wraps its root keyring", c.Token, c.Module, err)
	}
	label := c.KeyLabel
	if label == "" {
		label = defaultKeyLabel
	}
	return seal.NewPKCS11(tok, c.Module, c.Token, label), func() { _ = tok.Close() }, nil
}
