// Package seal is the root of trust: it holds the root keyring and wraps and
// unwraps key material under it, so nothing else in kmsd ever sees a root key.
//
// FileSeal keeps the keyring in a local file readable only by its owner. A
// sealed record is
//
//	version (1) = 0x01 | root key id (4, big endian) | nonce (12) | ciphertext | tag (16)
//
// encrypted with AES-256-GCM under the named root key. The GCM additional data
// is the version and root key id followed by the caller's aad, so a record
// bound to one key and material version does not unseal as another. The nonce
// is drawn inside the AEAD (cipher.NewGCMWithRandomNonce, the only GCM form
// allowed in FIPS 140-only mode) and is authenticated by GCM itself.
//
// Other packages authenticate data under the root of trust through
// DeriveKey (HKDF-SHA256 of a root key, per purpose), and tell one keyring
// from another through CheckValue, a one-way fingerprint of each root key.
// Open never creates a keyring and Create never replaces one, so a server
// that finds its keyring missing can refuse instead of starting afresh.
//
// A Protector wraps the keyring file's content so that the file alone
// reveals no root key (OpenWith, CreateWith): PKCS11 encrypts it with
// AES-GCM under a non-extractable key in a token, AWSKMS with a data key
// from GenerateDataKey under a KMS key at any AWS KMS endpoint, with the
// encryption context kmsd-purpose=root-keyring/v1. A wrapped file is JSON
// naming its format, seal and wrapping key, and holding the ciphertext; a
// plaintext keyring keeps its original format. Either kind opened as the
// other is refused with a *SealError naming the seal it needs, and Rewrap
// moves a keyring between seals without changing its root keys. Retire
// removes a root key once nothing sealed under it is needed.
package seal
