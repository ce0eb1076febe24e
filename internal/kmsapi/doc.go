// Package kmsapi holds the shapes of the AWS KMS API as Go types: the input and
// output of every operation and every structure and enum, generated from the
// AWS model (model/kms-api-2.json plus model/overlay.json). Each input can
// validate itself with AWS's exact ValidationException messages, and inputs and
// outputs render the CloudTrail requestParameters and responseElements of a call.
//
// The zz_*.go files are generated; edit the model or ./gen and run go generate.
package kmsapi

//go:generate go run ./gen
