// Package iamapi serves the IAM and STS query APIs at kmsd's endpoint, so
// the AWS CLI and SDKs manage users, roles, inline policies and access keys
// and assume roles against kmsd as they would against AWS, and ask with
// SimulatePrincipalPolicy what kmsd would decide: form-encoded
// POSTs (Action=…&Version=…), XML answers with AWS's element names and
// namespaces, and AWS's error codes and HTTP statuses. Each request is
// authenticated, authorized through a replaceable Authorizer, and audited
// with one CloudTrail record (eventSource iam.amazonaws.com or
// sts.amazonaws.com). The identities themselves live in package identity;
// this package only translates.
package iamapi
