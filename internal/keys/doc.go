// Package keys is where key material is made and used: it generates material
// for each KeySpec and encrypts and decrypts with it, and it defines the
// symmetric ciphertext blob format.
//
// The package never stores or seals material; callers pass unsealed material
// in as secret.Bytes and keep it no longer than they need it.
package keys
