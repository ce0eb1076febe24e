// Package xks is the KMS side's client of an external key store proxy (the
// XKS Proxy API, version 1): it signs each call with SigV4 for the service
// "kms-xks-proxy", sends requestMetadata the way AWS KMS fills it, checks
// every answer against the specification, and maps proxy errors, timeouts
// and TLS failures to the exceptions and connection error codes AWS KMS
// documents for keys in an EXTERNAL_KEY_STORE.
package xks
