package policy

import "fmt"

// Reason says why a KMS authorization came out as it did. The zero value
// is the implicit deny, so an unset Decision refuses.
type Reason uint8

const (
	// NoResourcePolicyAllows: the key policy neither allows the caller nor
	// delegates to the caller's account, and no grant applies.
	NoResourcePolicyAllows Reason = iota
	// NoIdentityPolicyAllows: the key policy allows the caller's account
	// (or, across accounts, the caller), but none of the caller's identity
	// policies allows the action, and no grant applies.
	NoIdentityPolicyAllows
	// ResourcePolicyDenies: an explicit Deny in the key policy.
	ResourcePolicyDenies
	// IdentityPolicyDenies: an explicit Deny in an identity policy.
	IdentityPolicyDenies
	// KeyPolicyAllows: the key policy allows the caller by name or by "*",
	// in the key's own account, or a service principal.
	KeyPolicyAllows
	// IdentityPolicyAllows: the key policy allows the caller's account, or
	// across accounts the caller, and the caller's identity policies (the
	// root user's implicit ones included) allow too.
	IdentityPolicyAllows
	// GrantAllows: a grant for the caller covers the operation.
	GrantAllows
)

func (r Reason) String() string {
	return [...]string{
		"no resource-based policy allows the action",
		"no identity-based policy allows the action",
		"explicit deny in the key policy",
		"explicit deny in an identity-based policy",
		"allowed by the key policy",
		"allowed by an identity-based policy through the key policy",
		"allowed by a grant",
	}[r]
}

// Decision is the combined KMS answer for one request.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Policy is the index of the deciding identity policy for
	// IdentityPolicyDenies and IdentityPolicyAllows; -1 otherwise, and for
	// the root user's implicit permissions.
	Policy int
	// Statement and Sid identify the deciding statement in the key policy
	// or in identity policy Policy; Statement is -1 when none decided.
	Statement int
	Sid       string
	// KeyPolicy is the key policy's own result, for explanations.
	KeyPolicy Result
}

// Decide combines a key policy, the caller's identity policies and the
// grants into the KMS answer, with AWS's rules:
//
//  1. an explicit Deny in the key policy or in an identity policy denies;
//  2. the key policy allowing the caller by name (or "*") in the key's
//     account, or allowing a service principal, allows;
//  3. the key policy allowing the caller's account root delegates: an
//     identity policy of the caller must allow too (the root user needs
//     none); across accounts the key policy must allow the other account or
//     the caller, and the caller's identity policies must allow;
//  4. a grant that covers the operation (grantAllows) allows;
//  5. otherwise the request is implicitly denied.
//
// The key's account is r.ResourceAccount, or the account field of
// r.Resource; when neither gives one, every caller with an account is
// treated as external. Identity policies must be the caller's own.
func Decide(r *Request, keyPolicy *Policy, identity []*Policy, grantAllows bool) Decision {
	kp := keyPolicy.Evaluate(r)
	d := Decision{Policy: -1, Statement: -1, KeyPolicy: kp}
	if kp.Outcome == Denied {
		d.Reason, d.Statement, d.Sid = ResourcePolicyDenies, kp.Statement, kp.Sid
		return d
	}
	idPolicy, idRes := -1, Result{Statement: -1}
	for i, p := range identity {
		res := p.Evaluate(r)
		if res.Outcome == Denied {
			d.Reason, d.Policy, d.Statement, d.Sid = IdentityPolicyDenies, i, res.Statement, res.Sid
			return d
		}
		if res.Outcome == Allowed && idPolicy < 0 {
			idPolicy, idRes = i, res
		}
	}

	// A key policy statement without a principal cannot grant anything:
	// ParseKeyPolicy refuses it, and it is ignored here if parsed otherwise.
	keyAllows := kp.Outcome == Allowed && kp.Match != MatchNone
	if keyAllows {
		crossAccount := r.Account != "" && r.Account != r.resourceAccount()
		if !crossAccount && kp.Match != MatchAccount {
			d.Allowed, d.Reason, d.Statement, d.Sid = true, KeyPolicyAllows, kp.Statement, kp.Sid
			return d
		}
		switch {
		case idPolicy >= 0:
			d.Allowed, d.Reason, d.Policy, d.Statement, d.Sid = true, IdentityPolicyAllows, idPolicy, idRes.Statement, idRes.Sid
			return d
		case r.Type == Root:
			// The root user is allowed everything its account's IAM can
			// allow, without an identity policy.
			d.Allowed, d.Reason = true, IdentityPolicyAllows
			return d
		}
	}
	if grantAllows {
		d.Allowed, d.Reason = true, GrantAllows
		return d
	}
	if keyAllows {
		d.Reason = NoIdentityPolicyAllows
	}
	return d
}

// DecideIdentity authorizes an action that involves no key (CreateKey,
// ListKeys, ListAliases, GenerateRandom, the custom key store operations),
// which only the caller's identity policies govern: an explicit Deny
// denies, then an Allow allows; the root user needs no policy. Pass "*" as
// the resource of the request and of the AccessDenied message.
func DecideIdentity(r *Request, identity []*Policy) Decision {
	d := Decision{Policy: -1, Statement: -1, KeyPolicy: Result{Statement: -1}, Reason: NoIdentityPolicyAllows}
	allowed := -1
	var allow Result
	for i, p := range identity {
		res := p.Evaluate(r)
		if res.Outcome == Denied {
			d.Reason, d.Policy, d.Statement, d.Sid = IdentityPolicyDenies, i, res.Statement, res.Sid
			return d
		}
		if res.Outcome == Allowed && allowed < 0 {
			allowed, allow = i, res
		}
	}
	switch {
	case allowed >= 0:
		d.Allowed, d.Reason, d.Policy, d.Statement, d.Sid = true, IdentityPolicyAllows, allowed, allow.Statement, allow.Sid
	case r.Type == Root:
		d.Allowed, d.Reason = true, IdentityPolicyAllows
	}
	return d
}

// AccessDeniedMessage returns AWS's AccessDeniedException text for a
// refusal, naming the caller, the action and the key; "" when allowed.
func (d Decision) AccessDeniedMessage(principal, action, resource string) string {
	if d.Allowed {
		return ""
	}
	return AccessDeniedMessage(d.Reason, principal, action, resource)
}

// AccessDeniedMessage formats AWS's AccessDeniedException text for reason,
// in the wording AWS uses for each policy type.
func AccessDeniedMessage(reason Reason, principal, action, resource string) string {
	var why string
	switch reason {
	case ResourcePolicyDenies:
		why = "with an explicit deny in a resource-based policy"
	case IdentityPolicyDenies:
		why = "with an explicit deny in an identity-based policy"
	case NoIdentityPolicyAllows:
		why = "because no identity-based policy allows the " + action + " action"
	default:
		why = "because no resource-based policy allows the " + action + " action"
	}
	return "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource + " " + why
}

// String explains the decision for an operator: what decided and where.
func (d Decision) String() string {
	verdict := "denied"
	if d.Allowed {
		verdict = "allowed"
	}
	switch d.Reason {
	case KeyPolicyAllows, ResourcePolicyDenies:
		return fmt.Sprintf("%s: %s, statement %s", verdict, d.Reason, stmtName(d.Statement, d.Sid))
	case IdentityPolicyAllows:
		via := ""
		if d.KeyPolicy.Outcome == Allowed {
			via = ", through key policy statement " + stmtName(d.KeyPolicy.Statement, d.KeyPolicy.Sid)
		}
		if d.Policy < 0 {
			return fmt.Sprintf("%s: the account root's own permissions%s", verdict, via)
		}
		return fmt.Sprintf("%s: identity policy %d statement %s%s", verdict, d.Policy, stmtName(d.Statement, d.Sid), via)
	case IdentityPolicyDenies:
		return fmt.Sprintf("%s: %s, policy %d statement %s", verdict, d.Reason, d.Policy, stmtName(d.Statement, d.Sid))
	case NoIdentityPolicyAllows:
		if d.KeyPolicy.Outcome != Allowed {
			return verdict + ": " + d.Reason.String()
		}
		return fmt.Sprintf("%s: key policy statement %s allows only through IAM, and %s", verdict, stmtName(d.KeyPolicy.Statement, d.KeyPolicy.Sid), d.Reason)
	}
	return verdict + ": " + d.Reason.String()
}

func stmtName(i int, sid string) string {
	if sid != "" {
		return fmt.Sprintf("%d (%q)", i, sid)
	}
	return fmt.Sprint(i)
}

// CheckLockout applies KMS's policy lockout safety check: unless the
// proposed key policy, with the caller's identity policies, lets r's
// principal call kms:PutKeyPolicy on the key, it returns a *MalformedError
// with AWS's message.
func CheckLockout(r Request, proposed *Policy, identity []*Policy) error {
	r.Action = "kms:PutKeyPolicy"
	if d := Decide(&r, proposed, identity, false); !d.Allowed {
		return malformed(MsgLockout)
	}
	return nil
}
