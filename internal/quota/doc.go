// Package quota holds the request-rate quotas AWS KMS applies per account
// and Region, as token buckets: the shared cryptographic quotas by key type,
// the GenerateDataKeyPair quotas by pair spec, and one quota per management
// operation. A throttled request is answered ThrottlingException.
package quota
