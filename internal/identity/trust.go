package identity

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// TrustRequest is what a trust decision looks at: the role to assume and
// who asks.
type TrustRequest struct {
	Role           *Role
	Caller         Principal
	ExternalID     string
	SourceIdentity string
	SessionName    string
	// Unbound lists principals of the trust policy that must not match
	// the caller: it bears their name, but the policy bound the name to
	// another principal, since deleted (trustbind.go).
	Unbound []string
}

// TrustChecker decides whether a role's trust policy lets the caller
// assume it. An error means the decision could not be made (the request
// fails as an internal error); false is AccessDenied. The policy engine
// plugs in here.
type TrustChecker interface {
	Trusts(ctx context.Context, r *TrustRequest) (bool, error)
}

// DefaultTrust is a conservative reading of a trust policy until the full
// policy language evaluates it: the caller is trusted when an Allow
// statement without a Condition names sts:AssumeRole (or a wildcard that
// covers it) and, as an AWS principal, the caller's account (its root ARN
// or bare id), the caller's own ARN, for a role session its role's ARN, or
// "*". Any Deny statement whose action covers sts:AssumeRole and whose
// principal names the caller, or that uses NotPrincipal or NotAction,
// refuses, whatever its Condition. Statements it does not understand never
// grant.
type DefaultTrust struct{}

// Trusts implements TrustChecker.
func (DefaultTrust) Trusts(_ context.Context, r *TrustRequest) (bool, error) {
	stmts, err := statements(r.Role.AssumeRolePolicyDocument)
	if err != nil {
		return false, nil
	}
	names := []string{RootARN(r.Caller.AccountID), r.Caller.AccountID, r.Caller.ARN}
	if r.Caller.Type == TypeAssumedRole && r.Caller.RoleARN != "" {
		names = append(names, r.Caller.RoleARN)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(r.Unbound, n) })
	allowed := false
	for _, st := range stmts {
		var effect string
		_ = json.Unmarshal(st["Effect"], &effect)
		switch effect {
		case "Deny":
			if has(st, "NotPrincipal") || has(st, "NotAction") ||
				(coversAssumeRole(st["Action"]) && namesPrincipal(st["Principal"], names)) {
				return false, nil
			}
		case "Allow":
			if !has(st, "Condition") && !has(st, "NotPrincipal") && !has(st, "NotAction") &&
				coversAssumeRole(st["Action"]) && namesPrincipal(st["Principal"], names) {
				allowed = true
			}
		}
	}
	return allowed, nil
}

// stringOrList decodes a policy value that is a string or a list of strings.
func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(raw, &list)
	return list
}

func coversAssumeRole(raw json.RawMessage) bool {
	for _, a := range stringOrList(raw) {
		if wildcardMatch(strings.ToLower(a), "sts:assumerole") {
			return true
		}
	}
	return false
}

// namesPrincipal reports whether a Principal element ("*" or {"AWS": …})
// names one of names as an AWS principal.
func namesPrincipal(raw json.RawMessage, names []string) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, p := range stringOrList(m["AWS"]) {
		if p == "*" {
			return true
		}
		for _, n := range names {
			if p == n {
				return true
			}
		}
	}
	return false
}

// wildcardMatch matches s against a pattern with * (any run) and ? (one
// character).
func wildcardMatch(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextPx >= 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			nextSx++
			px++
			continue
		}
		return false
	}
	return true
}
