package kms

import (
	"context"
	"encoding/json"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// DefaultPolicy is the key policy AWS gives a key created without one: the
// account may manage and use the key through IAM policies.
func DefaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// checkPolicy applies the size limit and a structural check; a policy is
// stored and returned verbatim.
func (s *Service) checkPolicy(p string) error {
	if len(p) > s.limits.PolicyBytes {
		return kmserr.New(kmserr.LimitExceeded, "The key policy is %d bytes, more than the %d-byte limit.", len(p), s.limits.PolicyBytes)
	}
	var doc struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		return kmserr.New(kmserr.MalformedPolicyDocument, "The policy is not valid JSON: %v", err)
	}
	if len(doc.Statement) == 0 || string(doc.Statement) == "null" {
		return kmserr.New(kmserr.MalformedPolicyDocument, "Policy document must contain a Statement.")
	}
	return nil
}

func checkPolicyName(name string) error {
	if name != "" && name != "default" {
		return kmserr.New(kmserr.NotFound, "No such policy exists: %s. The only valid policy name is default.", name)
	}
	return nil
}

// GetKeyPolicy returns a key's policy exactly as it was put.
func (s *Service) GetKeyPolicy(ctx context.Context, c *Call, in *kmsapi.GetKeyPolicyInput) (*kmsapi.GetKeyPolicyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:GetKeyPolicy", nil, nil)
	if err != nil {
		return nil, err
	}
	return &kmsapi.GetKeyPolicyOutput{Policy: k.rec.Policy, PolicyName: "default"}, nil
}

// PutKeyPolicy replaces a key's policy.
func (s *Service) PutKeyPolicy(ctx context.Context, c *Call, in *kmsapi.PutKeyPolicyInput) (*kmsapi.PutKeyPolicyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if err := s.checkPolicy(in.Policy); err != nil {
		return nil, err
	}
	if _, err := s.mutateKey(ctx, c, in.KeyId, "kms:PutKeyPolicy", ruleAny, func(_ store.Tx, r *keyRecord) error {
		r.Policy = in.Policy
		return nil
	}); err != nil {
		return nil, err
	}
	return &kmsapi.PutKeyPolicyOutput{}, nil
}

// ListKeyPolicies lists the one policy name a key has: "default".
func (s *Service) ListKeyPolicies(ctx context.Context, c *Call, in *kmsapi.ListKeyPoliciesInput) (*kmsapi.ListKeyPoliciesOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:ListKeyPolicies", nil, nil); err != nil {
		return nil, err
	}
	return &kmsapi.ListKeyPoliciesOutput{PolicyNames: []string{"default"}, Truncated: kmsapi.Bool(false)}, nil
}
