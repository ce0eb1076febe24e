// Package identity keeps the principals that may call kmsd: accounts, IAM
// users and roles with their inline policies, long-term access keys and the
// temporary session credentials AssumeRole issues. It resolves an access key
// id to its secret and principal for SigV4 verification, and gives an
// authorizer a principal's identity policies.
//
// Secret access keys and session tokens are stored sealed under the root of
// trust, since SigV4 verification needs the secret itself, not a hash of it.
//
// Records are versioned JSON in these buckets (names are lower-cased in keys,
// since IAM names are unique regardless of case):
//
//	accounts            ACCT                          -> Account
//	iam-users           ACCT/name                     -> User (with inline policies)
//	iam-roles           ACCT/name                     -> Role (with trust and inline policies)
//	access-keys         AKID                          -> AccessKey (sealed secret)
//	access-key-owners   ACCT/user/AKID (root: ACCT//AKID) -> ""
//	sessions            ASIA…                         -> Session (sealed secret and token)
//	role-sessions       ACCT/role/ASIA…               -> ""
//	session-expiry      expiry (8 bytes, big endian) | ASIA… -> ""
package identity
