package kms

import (
	"context"
	"errors"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/store"
)

// DefaultPolicy is the key policy AWS gives a key created without one: the
// account may manage and use the key through IAM policies.
func DefaultPolicy(account string) string { return defaultPolicy1(account) }

// defaultPolicy1 is the text a compact key record's fDefaultPolicy1 flag
// stands for (record_codec.go). Never change it: a record keeps only the
// flag, so a new default text needs a flag of its own.
func defaultPolicy1(account string) string {
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

// checkPolicy validates a key policy in the full policy language; a policy
// is stored and returned verbatim.
func (s *Service) checkPolicy(doc string) (*policy.Policy, error) {
	if len(doc) > s.limits.PolicyBytes {
		return nil, kmserr.New(kmserr.LimitExceeded, "The key policy is %d bytes, more than the %d-byte limit.", len(doc), s.limits.PolicyBytes)
	}
	p, err := policy.ParseKeyPolicy(doc)
	var malformed *policy.MalformedError
	var limit *policy.LimitError
	switch {
	case errors.As(err, &limit):
		return nil, kmserr.New(kmserr.LimitExceeded, "The key policy is %d bytes, more than the %d-byte limit.", limit.Size, limit.Limit)
	case errors.As(err, &malformed):
		return nil, kmserr.New(kmserr.MalformedPolicyDocument, "%s", malformed.Message)
	case err != nil:
		return nil, kmserr.New(kmserr.MalformedPolicyDocument, "%s", err.Error())
	}
	return p, nil
}

// IdentitySource is implemented by an authorizer that knows the callers'
// identity policies, which the policy lockout safety check weighs too.
type IdentitySource interface {
	IdentityPoliciesOf(ctx context.Context, c *Caller) ([]*policy.Policy, error)
}

// checkNewPolicy validates a policy about to be set on the key keyARN and,
// unless bypass is set, applies AWS's policy lockout safety check: the
// caller must keep the right to call PutKeyPolicy under the new policy.
func (s *Service) checkNewPolicy(ctx context.Context, c *Call, keyARN, account, doc string, bypass *bool) error {
	p, err := s.checkPolicy(doc)
	if err != nil || bypass != nil && *bypass {
		return err
	}
	var identity []*policy.Policy
	if src, ok := s.authz.(IdentitySource); ok {
		if identity, err = src.IdentityPoliciesOf(ctx, &c.Caller); err != nil {
			return kmserr.Internalf("identity policies of %s: %w", c.Caller.ARN, err)
		}
	}
	r := policyRequest(&AuthzRequest{Caller: &c.Caller, Action: "kms:PutKeyPolicy", Key: &KeyView{ARN: keyARN, AccountID: account}}, s.clock)
	var malformed *policy.MalformedError
	if err := policy.CheckLockout(*r, p, identity); errors.As(err, &malformed) {
		return kmserr.New(kmserr.MalformedPolicyDocument, "%s", malformed.Message)
	} else if err != nil {
		return kmserr.Internalf("policy lockout check: %w", err)
	}
	return nil
}

func checkPolicyName(name string) error {
	if name != "" && name != "default" {
		return kmserr.New(kmserr.NotFound, "No such policy exists: %s. The only valid policy name is default.", name)
	}
	return nil
}

// GetKeyPolicy returns a key's policy exactly as it was put, except that
// a user or role deleted since shows as its unique id, as in AWS.
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
	doc, err := s.renderPolicy(ctx, k.rec)
	if err != nil {
		return nil, err
	}
	return &kmsapi.GetKeyPolicyOutput{Policy: doc, PolicyName: "default"}, nil
}

// PutKeyPolicy replaces a key's policy.
func (s *Service) PutKeyPolicy(ctx context.Context, c *Call, in *kmsapi.PutKeyPolicyInput) (*kmsapi.PutKeyPolicyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if b := in.BypassPolicyLockoutSafetyCheck; b != nil {
		c.conditions = requestConditions("kms:bypasspolicylockoutsafetycheck", boolString(*b))
	}
	if _, err := s.mutateKey(ctx, c, in.KeyId, "kms:PutKeyPolicy", ruleAny, func(_ store.Tx, r *keyRecord) error {
		if err := s.checkNewPolicy(ctx, c, r.arn(), r.AccountID, in.Policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return err
		}
		bound, err := s.bindPrincipals(ctx, r.AccountID, in.Policy)
		if err != nil {
			return err
		}
		r.Policy, r.PolicyPrincipals = in.Policy, bound
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
