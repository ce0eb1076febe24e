// Package sigv4 verifies AWS Signature Version 4 on incoming requests, so that
// kmsd answers AWS SDKs and the AWS CLI with exactly the authentication
// behaviour and exceptions AWS KMS has.
//
// A Verifier rebuilds the canonical request from what arrived on the wire,
// derives the signing key from the caller's secret access key (caching it per
// secret, date, region and service), and compares signatures in constant
// time. On top of the SigV4 specification it enforces a hardening policy: the
// host, the date, the operation (X-Amz-Target), the content type and any
// session token must be covered by the signature, the payload is always hashed
// by the server, and the request time must lie within a small window of the
// server clock.
//
// Only header authentication is accepted. Presigned query-string requests are
// refused: AWS JSON-protocol services such as KMS are called with an
// Authorization header by every SDK, and a URL that carries its own
// credentials is easy to leak through logs and referrers.
//
// Every error Verify returns is a *kmserr.Error carrying the exception name and
// message AWS would send. No error or message ever contains a secret access
// key or a derived signing key.
package sigv4
