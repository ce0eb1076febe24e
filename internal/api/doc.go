// Package api serves the AWS KMS wire protocol over HTTP: JSON 1.1 bodies
// dispatched on X-Amz-Target, SigV4 authentication, AWS error shapes, one
// audit record per request, and the health endpoints. It translates; the
// operations themselves live in package kms.
package api
