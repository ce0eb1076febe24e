package iamapi

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
)

// Authorizer decides whether a caller may perform an IAM or STS action
// ("iam:CreateUser", "sts:AssumeRole") on a resource ARN. It returns nil to
// allow, or an error — normally AccessDenied — to refuse. The policy engine
// replaces SameAccount here. For sts:AssumeRole it is the caller's side of
// the decision; the role's trust policy is checked by the identity store.
type Authorizer interface {
	Authorize(ctx context.Context, caller *kms.Caller, action, resource string) error
}

// SameAccount lets the root and every principal of an account manage the
// identities of that account, and nothing of another account. It is the
// authorizer until identity policies are evaluated.
type SameAccount struct{}

// Authorize implements Authorizer.
func (SameAccount) Authorize(_ context.Context, c *kms.Caller, action, resource string) error {
	if accountOf(resource) == c.AccountID {
		return nil
	}
	if action == "sts:AssumeRole" {
		return nil // cross-account: the role's trust policy decides
	}
	return AccessDenied(c, action, resource)
}

// AccessDenied is AWS's AccessDenied error for an identity-policy refusal.
func AccessDenied(c *kms.Caller, action, resource string) error {
	return &identity.Error{Code: identity.CodeAccessDenied,
		Message: "User: " + c.ARN + " is not authorized to perform: " + action + " on resource: " + resource +
			" because no identity-based policy allows the " + action + " action"}
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}
