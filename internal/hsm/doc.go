// Package hsm is kmsd's access to PKCS#11 tokens (AWS CloudHSM, SoftHSM2, any
// module that implements AES-GCM): it logs in to one token, makes AES-256 keys
// that never leave it, and encrypts and decrypts with them inside the token.
//
// The binding is cgo (github.com/miekg/pkcs11). A binary built with
// CGO_ENABLED=0 still compiles; there Open and InitToken return an error that
// says PKCS#11 tokens are unavailable.
//
// Errors are errors.Is-able sentinels (ErrPINIncorrect, ErrKeyNotFound, ...)
// wrapping the module's CKR_ return value; no error ever carries a PIN.
package hsm
