// Package kms implements the AWS KMS operations: input validation, key
// resolution, authorization, the key state machine, the cryptography and the
// facts each call contributes to its audit record. It knows nothing of HTTP or
// SQL; it talks to storage, the seal and the authorizer through small
// interfaces declared here.
package kms
