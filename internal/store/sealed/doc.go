// Package sealed authenticates every record of a store.Store under the root
// keyring, and refuses to open a store with a keyring other than the one that
// sealed it.
//
// Store wraps any store.Store; callers (kms, identity) see the same contract
// and the same values. Every stored value is framed and tagged:
//
//	version (1) = 0x01 | root key id (4, big endian) | value | tag (32)
//	tag = HMAC-SHA256(K, len(bucket) (4) | bucket | len(key) (4) | key | version | root key id | value)
//	K   = HKDF-SHA256(root key <id>, info "kmsd/derived/v1|store-record/v1|" + hex(store id))
//
// New records are tagged under the keyring's active root key; a record names
// the key it was tagged under, so records survive a root key rotation. The
// bucket and key are bound into the tag, so a value copied under another key
// or into another bucket fails, and the store id (random, made with the
// store) is bound into K, so a record copied from another store fails even if
// both share a root keyring. A record that fails is refused with
// ErrNotAuthentic naming its bucket and key, never its value. Cost: one
// HMAC-SHA256 per value read or written and 37 bytes per value.
//
// The store keeps, in a bucket callers cannot reach, a check record: its id
// and the check value of every root key of its keyring (seal.FileSeal's
// CheckValue, a one-way fingerprint safe to print). Open refuses a keyring
// that lacks a recorded key or whose key has another check value, with a
// *KeyringError that names where the keyring was read, the fingerprints
// expected and those found. CanCreateKeyring allows a new keyring only for a
// store without any record. A store written before check records existed is
// adopted on its first Open: the caller's Probe must unseal one sealed value
// the store holds (or find none), then every value is tagged and the check
// record written in one transaction.
//
// What an attacker who can write the store (the bbolt file, the database) but
// not read the root keyring can and cannot do. They cannot read key material
// or secrets (sealed with AES-256-GCM under the root key); cannot create a
// record or change a byte of one (a key's state, policy, tags or materials, an
// alias target, a grant, an identity, an access key, an IAM policy); cannot
// move a record to another key, bucket or store; and cannot swap or delete the
// root keyring to make kmsd start afresh on their data: each is refused. They
// can delete any record (a key, alias, grant, user or access key disappears,
// or an index entry, so that a scheduled deletion or rotation does not
// happen); roll any record back to an older authentic version of itself, or
// bring back a deleted one (re-enable a disabled key, restore a revoked grant,
// a deleted access key or an older key policy); and roll the whole store back
// to an older copy, which is what restoring a backup does, or replace it whole
// with another store sealed by the same root keyring. Records are
// authenticated, not encrypted: whoever can read the store reads key metadata,
// policies, aliases, tags, grants and identities, though never key material or
// secrets. Detecting the rollback of one record needs, on every read, proof
// that the record is the latest: an authenticated dictionary (a Merkle tree
// over all records) costing O(log n) extra reads and hashes per read and
// writes per write, with one root written by every transaction, which
// serializes all writers of a shared database. A cheaper set hash checked at
// start would notice only at the next restart and still needs that single hot
// record. And either anchor lives in the same store, so rolling back the whole
// store, anchor included, stays undetected: only state the attacker cannot
// write (a monotonic counter in a TPM or HSM, or digests kept outside the
// store) can catch that. kmsd therefore does not claim rollback protection for
// records: keep write access to the data directory as restricted as the root
// keyring.
package sealed
