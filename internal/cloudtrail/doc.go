// Package cloudtrail serves the AWS CloudTrail API's LookupEvents at kmsd's
// endpoint, so `aws cloudtrail lookup-events` and the SDKs' CloudTrail
// clients search kmsd's audit trail as they search AWS's event history:
// JSON 1.1 requests with X-Amz-Target
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Operation>,
// signed for the service "cloudtrail", answered with AWS's shapes and
// exceptions. The wire shapes are generated from the AWS model
// (model/cloudtrail-2013-11-01.json) by ./gen.
//
// A caller sees the events of its own account in the Region its request
// is signed for, newest first, found through an index of the audit log
// (package auditindex) rather than by reading the log. A call is allowed
// by cloudtrail:LookupEvents in the caller's identity policies (an account
// root may do everything in its account), and is itself audited, as
// CloudTrail records it: a read-only management event with eventSource
// cloudtrail.amazonaws.com. The package only translates; the index finds.
//
//go:generate go run ./gen
package cloudtrail
