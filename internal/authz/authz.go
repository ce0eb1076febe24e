// Package authz connects the policy language (internal/policy) to the
// principals of the identity store: it gives the KMS authorizer each
// caller's identity policies, decides IAM and STS calls by identity
// policies, evaluates role trust policies for AssumeRole, and validates
// every policy document before it is stored.
package authz

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/policy"
)

// Policies answers for one identity store. It is safe for concurrent use.
type Policies struct {
	Store *identity.Store
	Now   func() time.Time // nil: time.Now

	// parsed caches documents by their text: a document is immutable, and
	// parsing is far slower than looking one up.
	mu     sync.RWMutex
	parsed map[string]*policy.Policy
}

// maxParsed bounds the document cache; past it the cache starts over.
const maxParsed = 4096

func (p *Policies) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Policies) parse(doc string) (*policy.Policy, error) {
	p.mu.RLock()
	pol, ok := p.parsed[doc]
	p.mu.RUnlock()
	if ok {
		return pol, nil
	}
	pol, err := policy.ParseIdentityPolicy(doc)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.parsed == nil || len(p.parsed) >= maxParsed {
		p.parsed = make(map[string]*policy.Policy)
	}
	p.parsed[doc] = pol
	p.mu.Unlock()
	return pol, nil
}

// IdentityPolicies returns the parsed inline policies of the caller's user,
// or of the role behind its session; none for an account root. It
// implements kms.IdentityPolicies.
func (p *Policies) IdentityPolicies(ctx context.Context, c *kms.Caller) ([]*policy.Policy, error) {
	if c.Type == identity.TypeRoot || c.ARN == "" {
		return nil, nil
	}
	docs, err := p.Store.IdentityPolicies(ctx, c.ARN)
	if err != nil {
		var ie *identity.Error
		if errors.As(err, &ie) && ie.Code == identity.CodeNoSuchEntity {
			return nil, nil // deleted since the request was signed: no permissions
		}
		return nil, err
	}
	out := make([]*policy.Policy, 0, len(docs))
	for _, d := range docs {
		pol, err := p.parse(d)
		if err != nil {
			// Stored documents were validated; one that no longer parses
			// grants nothing rather than failing every request.
			continue
		}
		out = append(out, pol)
	}
	return out, nil
}

// Authorize decides an IAM or STS action by the caller's identity policies
// alone (an account root may do everything in its account). It implements
// iamapi.Authorizer. For sts:AssumeRole across accounts this is the
// caller's side; the role's trust policy is checked by Trusts.
func (p *Policies) Authorize(ctx context.Context, c *kms.Caller, action, resource string) error {
	identityPolicies, err := p.IdentityPolicies(ctx, c)
	if err != nil {
		return err
	}
	typ, account, ok := policy.ParsePrincipal(c.ARN)
	if !ok {
		typ, account = policy.Anonymous, c.AccountID
	}
	r := &policy.Request{Principal: c.ARN, Account: account, Type: typ, UserID: c.PrincipalID,
		Action: action, Resource: resource, Time: p.now(), Context: policy.Context{}}
	if c.SourceIP != "" {
		r.Context["aws:sourceip"] = []string{c.SourceIP}
	}
	if rid, ok := accountOf(resource); ok {
		r.ResourceAccount = rid
		if rid != account && action != "sts:AssumeRole" {
			// IAM has no resource policies: another account's identities
			// are out of reach whatever the caller's policies say.
			return accessDenied(c, action, resource, policy.NoIdentityPolicyAllows)
		}
	}
	d := policy.DecideIdentity(r, identityPolicies)
	if d.Allowed {
		return nil
	}
	return accessDenied(c, action, resource, d.Reason)
}

func accessDenied(c *kms.Caller, action, resource string, reason policy.Reason) error {
	return &identity.Error{Code: identity.CodeAccessDenied, Message: policy.AccessDeniedMessage(reason, c.ARN, action, resource)}
}

// accountOf returns the account field of an ARN.
func accountOf(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !identity.ValidAccountID(parts[4]) {
		return "", false
	}
	return parts[4], true
}

// Trusts evaluates a role's trust policy for sts:AssumeRole by the caller,
// with sts:ExternalId and sts:SourceIdentity as condition keys. It
// implements identity.TrustChecker.
func (p *Policies) Trusts(_ context.Context, tr *identity.TrustRequest) (bool, error) {
	trust, err := policy.ParseTrustPolicy(tr.Role.AssumeRolePolicyDocument)
	if err != nil {
		return false, nil // a trust policy that does not parse trusts no one
	}
	if len(tr.Unbound) > 0 {
		trust = trust.WithoutPrincipals(func(v string) bool { return slices.Contains(tr.Unbound, v) })
	}
	c := tr.Caller
	typ, account, ok := policy.ParsePrincipal(c.ARN)
	if !ok {
		return false, nil
	}
	r := &policy.Request{Principal: c.ARN, Account: account, Type: typ, UserID: c.PrincipalID, RoleARN: c.RoleARN,
		Action: "sts:AssumeRole", Resource: tr.Role.ARN(), ResourceAccount: tr.Role.AccountID, Time: p.now(), Context: policy.Context{}}
	if tr.ExternalID != "" {
		r.Context["sts:externalid"] = []string{tr.ExternalID}
	}
	if tr.SourceIdentity != "" {
		r.Context["sts:sourceidentity"] = []string{tr.SourceIdentity}
	}
	if tr.SessionName != "" {
		r.Context["sts:rolesessionname"] = []string{tr.SessionName}
	}
	res := trust.Evaluate(r)
	return res.Outcome == policy.Allowed && res.Match != policy.MatchNone, nil
}

// ValidateIdentityPolicy checks a user's or role's inline policy in the
// full policy language. It implements identity.PolicyValidator.
func (p *Policies) ValidateIdentityPolicy(doc string) error {
	_, err := policy.ParseIdentityPolicy(doc)
	return malformed(err)
}

// ValidateTrustPolicy checks a role's trust policy.
func (p *Policies) ValidateTrustPolicy(doc string) error {
	_, err := policy.ParseTrustPolicy(doc)
	return malformed(err)
}

func malformed(err error) error {
	var m *policy.MalformedError
	if errors.As(err, &m) {
		return &identity.Error{Code: identity.CodeMalformedPolicyDocument, Message: m.Message}
	}
	return err
}
