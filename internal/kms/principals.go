package kms

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
)

// Key policies name IAM users and roles by ARN, but AWS binds them to the
// principal, not its name: when a policy is set, each user or role of the
// key's account it names is resolved to its unique id (AIDA…, AROA…), and
// one that does not exist is refused. A user deleted and recreated under
// the same name gets a new id and none of the old one's access, and
// GetKeyPolicy shows the bare id in place of the ARN once the principal
// is gone. Account principals, other accounts' principals, role session
// ARNs, service principals and "*" are kept as written, as AWS keeps them.
//
// The document is stored as it was put, beside its bindings (ARN → id).
// Deciding a request stays one map lookup: a caller whose name the policy
// bound to another id is decided by the policy without those principals.

// PrincipalResolver finds the unique id of the IAM user or role whose ARN
// is arn; ok is false when there is none. The key policy binding uses the
// one PolicyAuthorizer's Identities offer; without one, policies are kept
// as written and principals match by name.
type PrincipalResolver interface {
	PrincipalID(ctx context.Context, arn string) (id string, ok bool, err error)
}

// boundPrincipal ties a user or role ARN, as a key policy names it, to the
// unique id of the principal it named when the policy was set.
type boundPrincipal struct {
	ARN string `json:"arn"`
	ID  string `json:"id"`
}

func (s *Service) principalResolver() PrincipalResolver {
	if a, ok := s.authz.(PolicyAuthorizer); ok {
		if r, ok := a.Identities.(PrincipalResolver); ok {
			return r
		}
	}
	return nil
}

// bindPrincipals resolves the IAM users and roles of account that the
// valid key policy doc names. One that does not exist makes the policy
// MalformedPolicyDocumentException, as in AWS.
func (s *Service) bindPrincipals(ctx context.Context, account, doc string) ([]boundPrincipal, error) {
	res := s.principalResolver()
	if res == nil {
		return nil, nil
	}
	p, err := policy.ParseKeyPolicy(doc)
	if err != nil {
		return nil, kmserr.New(kmserr.MalformedPolicyDocument, "%s", err.Error())
	}
	var out []boundPrincipal
	for _, v := range p.Principals() {
		if !isEntityOf(v, account) {
			continue
		}
		id, ok, err := res.PrincipalID(ctx, v)
		if err != nil {
			return nil, kmserr.Internalf("resolve principal %s: %w", v, err)
		}
		if !ok {
			return nil, kmserr.New(kmserr.MalformedPolicyDocument, "%s", policy.MsgInvalidPrincipals)
		}
		out = append(out, boundPrincipal{ARN: v, ID: id})
	}
	return out, nil
}

// isEntityOf reports whether arn names an IAM user or role of account.
func isEntityOf(arn, account string) bool {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || parts[4] != account {
		return false
	}
	return strings.HasPrefix(parts[5], "user/") || strings.HasPrefix(parts[5], "role/")
}

// renderPolicy is a key's policy as GetKeyPolicy shows it: as it was put,
// except that a bound principal deleted since shows as its unique id.
func (s *Service) renderPolicy(ctx context.Context, r *keyRecord) (string, error) {
	res := s.principalResolver()
	if res == nil || len(r.PolicyPrincipals) == 0 {
		return r.Policy, nil
	}
	gone := map[string]string{}
	for _, b := range r.PolicyPrincipals {
		id, ok, err := res.PrincipalID(ctx, b.ARN)
		if err != nil {
			return "", kmserr.Internalf("resolve principal %s: %w", b.ARN, err)
		}
		if !ok || id != b.ID {
			gone[b.ARN] = b.ID
		}
	}
	if len(gone) == 0 {
		return r.Policy, nil
	}
	doc, err := policy.ReplaceAWSPrincipals(r.Policy, gone)
	if err != nil {
		return "", kmserr.Internalf("render the policy of %s: %w", r.KeyID, err)
	}
	return doc, nil
}

// boundPolicy is what deciding by unique id needs, computed once per
// cached key: the id each bound name stands for, by policy.BindingKey,
// and the policy without its bound principals.
type boundPolicy struct {
	ids      map[string]string
	stranger *policy.Policy
}

func newBoundPolicy(p *policy.Policy, bound []boundPrincipal) *boundPolicy {
	if p == nil || len(bound) == 0 {
		return nil
	}
	b := &boundPolicy{ids: make(map[string]string, len(bound))}
	arns := make(map[string]bool, len(bound))
	for _, pr := range bound {
		arns[pr.ARN] = true
		b.ids[policy.BindingKey(pr.ARN)] = pr.ID
	}
	b.stranger = p.WithoutPrincipals(func(v string) bool { return arns[v] })
	return b
}

// policyFor is the key policy c's request is decided by: the policy, or,
// for a caller who bears the name of a principal the policy bound to
// another unique id, the policy without its bound principals.
func (v *KeyView) policyFor(c *Caller) *policy.Policy {
	if v.bound == nil || c == nil {
		return v.KeyPolicy
	}
	key, id := policy.CallerKey(c.ARN, c.PrincipalID)
	if want, ok := v.bound.ids[key]; ok && want != id {
		return v.bound.stranger
	}
	return v.KeyPolicy
}
