// Package xksproxy serves the AWS External Key Store (XKS) Proxy API, so
// that AWS KMS, or another kmsd, can use kmsd's own symmetric keys as the
// external keys of an EXTERNAL_KEY_STORE custom key store.
//
// It is an adapter at the edge, like package api: it authenticates each
// request with SigV4 under the proxy's own credentials (service
// kms-xks-proxy), optionally checks a client certificate and the
// requestMetadata against allow lists, translates the request into a call
// on the kms backend, answers in the specification's JSON shapes and error
// names, and writes one CloudTrail-format audit record per request.
// Plaintext never reaches a log line, an error or an audit record.
package xksproxy
