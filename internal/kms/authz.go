package kms

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
)

// IdentityPolicies supplies the identity policies that apply to a caller:
// the inline policies of an IAM user, or of the role behind a session. The
// account root has none. Implementations parse each document once and keep
// it until it changes: this is on every request's path.
type IdentityPolicies interface {
	IdentityPolicies(ctx context.Context, c *Caller) ([]*policy.Policy, error)
}

// PolicyAuthorizer decides as AWS KMS does (DESIGN §7): an explicit Deny in
// the key policy or an identity policy refuses; the key policy allows a
// principal it names; a key policy allowing the account root delegates to
// the caller's identity policies; a grant allows what it names; everything
// else is an implicit deny. Actions on no key are decided by the identity
// policies alone.
type PolicyAuthorizer struct {
	Identities IdentityPolicies // nil: no caller has identity policies
	Clock      Clock            // the request time for aws:CurrentTime; nil: SystemClock
}

// IdentityPoliciesOf returns the caller's identity policies, for the
// policy lockout safety check.
func (a PolicyAuthorizer) IdentityPoliciesOf(ctx context.Context, c *Caller) ([]*policy.Policy, error) {
	if a.Identities == nil {
		return nil, nil
	}
	return a.Identities.IdentityPolicies(ctx, c)
}

// Authorize returns nil or AWS's AccessDeniedException, which names the
// caller, the action, the key and the kind of policy that refused.
func (a PolicyAuthorizer) Authorize(ctx context.Context, r *AuthzRequest) error {
	d, err := a.Decide(ctx, r)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	return kmserr.New(kmserr.AccessDenied, "%s", d.AccessDeniedMessage(r.Caller.ARN, r.Action, resourceOf(r)))
}

// Decide returns the decision with the statement or grant that made it, for
// Authorize and for explaining a decision to an operator.
func (a PolicyAuthorizer) Decide(ctx context.Context, r *AuthzRequest) (policy.Decision, error) {
	var identity []*policy.Policy
	if a.Identities != nil {
		var err error
		if identity, err = a.Identities.IdentityPolicies(ctx, r.Caller); err != nil {
			return policy.Decision{}, kmserr.Internalf("identity policies of %s: %w", r.Caller.ARN, err)
		}
	}
	clock := a.Clock
	if clock == nil {
		clock = SystemClock
	}
	req := policyRequest(r, clock)
	if r.Key == nil {
		return policy.DecideIdentity(req, identity), nil
	}
	return policy.Decide(req, r.Key.policyFor(r.Caller), identity, r.GrantAllows), nil
}

func resourceOf(r *AuthzRequest) string {
	if r.Key == nil {
		return "*"
	}
	return r.Key.ARN
}

// policyRequest builds the request context: the caller, the key, the
// encryption context and the condition keys AWS KMS defines.
func policyRequest(r *AuthzRequest, clock Clock) *policy.Request {
	c := r.Caller
	typ, account, ok := policy.ParsePrincipal(c.ARN)
	if !ok {
		typ, account = policy.Anonymous, c.AccountID
	}
	req := &policy.Request{
		Principal:         c.ARN,
		Account:           account,
		Type:              typ,
		UserID:            c.PrincipalID,
		Action:            r.Action,
		Resource:          resourceOf(r),
		Time:              clock.Now(),
		SourceIP:          c.SourceIP,
		SecureTransport:   boolString(c.SecureTransport),
		RequestedRegion:   c.Region,
		RequestAlias:      r.RequestAlias,
		EncryptionContext: r.EncryptionContext,
		Operation:         r.Conditions,
	}
	if r.Key != nil {
		req.ResourceAccount = r.Key.AccountID
		req.ResourceContext = r.Key.Conditions
	}
	return req
}

// keyConditions are the condition keys a key itself defines, computed once
// per cached key: kms:KeyOrigin, kms:KeySpec, kms:KeyUsage,
// kms:MultiRegion, kms:MultiRegionKeyType (multi-Region keys only),
// aws:ResourceTag/<key> and, on an AWS managed key, the kms:ViaService of
// its service (managed.go); the key cache adds kms:ResourceAliases
// (setResourceAliases).
func keyConditions(r *keyRecord) policy.Context {
	c := policy.Context{
		"kms:keyorigin":   {r.Origin},
		"kms:keyspec":     {r.KeySpec},
		"kms:keyusage":    {r.KeyUsage},
		"kms:multiregion": {boolString(r.MultiRegion)},
	}
	switch {
	case r.isPrimary():
		c["kms:multiregionkeytype"] = []string{string(mrkPrimary)}
	case r.isReplica():
		c["kms:multiregionkeytype"] = []string{string(mrkReplica)}
	}
	for _, t := range r.Tags {
		c["aws:resourcetag/"+strings.ToLower(t.Key)] = []string{t.Value}
	}
	addManagedConditions(c, r)
	return c
}

// setResourceAliases sets kms:ResourceAliases, the names of a key's
// aliases, in the key's own condition keys; a key without aliases has none.
func setResourceAliases(c policy.Context, aliases []string) {
	if len(aliases) > 0 {
		c["kms:resourcealiases"] = aliases
	}
}

// requestConditions builds an operation's own condition keys from lower-cased
// key, value pairs, for Call.conditions or AuthzRequest.Conditions.
func requestConditions(kv ...string) map[string][]string {
	m := make(map[string][]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []string{kv[i+1]}
	}
	return m
}

// algorithmOrDefault is the value of kms:EncryptionAlgorithm: the
// algorithm the request names, or the one the operation uses when it
// names none (SYMMETRIC_DEFAULT), as AWS documents for the key.
func algorithmOrDefault(alg kmsapi.EncryptionAlgorithmSpec) string {
	if alg == "" {
		return algSymmetric
	}
	return string(alg)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// createKeyConditions are the condition keys of a CreateKey request, which
// identity policies can restrict (kms:KeySpec, aws:RequestTag/…).
func createKeyConditions(in *kmsapi.CreateKeyInput, spec, usage, origin string) map[string][]string {
	c := map[string][]string{
		"kms:keyspec":     {spec},
		"kms:keyusage":    {usage},
		"kms:keyorigin":   {origin},
		"kms:multiregion": {boolString(in.MultiRegion != nil && *in.MultiRegion)},
	}
	if in.MultiRegion != nil && *in.MultiRegion {
		c["kms:multiregionkeytype"] = []string{string(mrkPrimary)}
	}
	if in.BypassPolicyLockoutSafetyCheck != nil {
		c["kms:bypasspolicylockoutsafetycheck"] = []string{boolString(*in.BypassPolicyLockoutSafetyCheck)}
	}
	addTagConditions(c, in.Tags)
	return c
}

// addTagConditions adds aws:TagKeys and aws:RequestTag/<key> for the tags
// a request sets.
func addTagConditions(c map[string][]string, tags []kmsapi.Tag) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		keys = append(keys, t.TagKey)
		c["aws:requesttag/"+strings.ToLower(t.TagKey)] = []string{t.TagValue}
	}
	c["aws:tagkeys"] = keys
}

// Explanation is the answer to "may this principal do this to this key?",
// with what decided it.
type Explanation struct {
	KeyARN   string
	Decision policy.Decision
	Message  string // AccessDeniedException's text when refused
	// GrantID and GrantName name the grant that allowed, when one did.
	GrantID, GrantName string
	// KeyPolicy is the key policy document the decision read, as it was
	// put, so that a statement index can be shown where it stands.
	KeyPolicy string
	// Identity is what the caller's identity policies alone say, the
	// caller's side of a cross-account decision.
	Identity policy.Decision
}

// ExplainRequest is a request to explain: who, what, on which key, and the
// request's context.
type ExplainRequest struct {
	Caller            Caller
	Action            string
	KeyID             string // key id, key ARN, alias name or alias ARN
	EncryptionContext map[string]string
	// Conditions are lower-cased condition keys that replace the ones the
	// request would carry (aws:SourceIp…); a key with no values is absent.
	Conditions map[string][]string
}

// Explain decides, as PolicyAuthorizer would for a real request, whether
// caller may perform action on keyID with the encryption context ec, and
// says which statement or grant decided. Nothing is changed or audited.
func (s *Service) Explain(ctx context.Context, a PolicyAuthorizer, caller Caller, action, keyID string, ec map[string]string) (*Explanation, error) {
	return s.ExplainRequest(ctx, a, &ExplainRequest{Caller: caller, Action: action, KeyID: keyID, EncryptionContext: ec})
}

// ExplainRequest is Explain with the request's condition keys given.
func (s *Service) ExplainRequest(ctx context.Context, a PolicyAuthorizer, in *ExplainRequest) (*Explanation, error) {
	c := &Call{Caller: in.Caller, conditions: in.Conditions}
	action, ec := in.Action, in.EncryptionContext
	ref, err := parseKeyRef(&c.Caller, in.KeyID, keyOrAlias)
	if err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if a.Clock == nil {
		a.Clock = s.clock
	}
	r := s.authzRequest(c, action, k, ec, nil, ref.alias)
	d, err := a.Decide(ctx, r)
	if err != nil {
		return nil, err
	}
	ids, err := a.IdentityPoliciesOf(ctx, r.Caller)
	if err != nil {
		return nil, kmserr.Internalf("identity policies of %s: %w", r.Caller.ARN, err)
	}
	ex := &Explanation{KeyARN: k.arn, Decision: d, Message: d.AccessDeniedMessage(c.Caller.ARN, action, k.arn),
		KeyPolicy: k.rec.Policy, Identity: policy.DecideIdentity(policyRequest(r, a.Clock), ids)}
	if d.Reason == policy.GrantAllows {
		if g := k.grants.allowing(&c.Caller, action, ec); g != nil {
			ex.GrantID, ex.GrantName = g.rec.GrantID, g.rec.Name
		}
	}
	return ex, nil
}
