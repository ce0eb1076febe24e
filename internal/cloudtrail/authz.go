package cloudtrail

import (
	"context"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
)

// authorize decides a call by the caller's identity policies alone, as
// AWS decides CloudTrail's actions, which have no resource-level
// permissions (the resource is "*"): an explicit Deny refuses, an Allow
// allows, and an account root may do everything in its account.
func (h *Handler) authorize(ctx context.Context, c *call, action string) error {
	if h.cfg.Identities == nil {
		return nil
	}
	pols, err := h.cfg.Identities.IdentityPolicies(ctx, &c.caller)
	if err != nil {
		return kmserr.Internalf("identity policies of %s: %w", c.caller.ARN, err)
	}
	typ, account, ok := policy.ParsePrincipal(c.caller.ARN)
	if !ok {
		typ, account = policy.Anonymous, c.caller.AccountID
	}
	secure := "false"
	if c.caller.SecureTransport {
		secure = "true"
	}
	r := &policy.Request{
		Principal: c.caller.ARN, Account: account, Type: typ, UserID: c.caller.PrincipalID,
		Action: action, Resource: "*", Time: h.cfg.Clock.Now(),
		Context: policy.Context{"aws:securetransport": {secure}, "aws:requestedregion": {c.caller.Region}},
	}
	if c.caller.SourceIP != "" {
		r.Context["aws:sourceip"] = []string{c.caller.SourceIP}
	}
	d := policy.DecideIdentity(r, pols)
	if d.Allowed {
		return nil
	}
	// AWS names no resource for an action without resource types.
	why := "because no identity-based policy allows the " + action + " action"
	if d.Reason == policy.IdentityPolicyDenies {
		why = "with an explicit deny in an identity-based policy"
	}
	return kmserr.New(kmserr.AccessDenied, "User: %s is not authorized to perform: %s %s", c.caller.ARN, action, why)
}
