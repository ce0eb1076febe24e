package identity

import (
	"encoding/json"
	"fmt"

	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/store"
)

// A role's trust policy names users and roles by ARN, but IAM binds them to
// the principal: saving the policy resolves each user or role of the
// role's account to its unique id and refuses one that does not exist;
// GetRole shows the bare id of one deleted since; and a user or role
// recreated under the same name is not trusted until the policy is saved
// again. Account principals, other accounts' principals, session ARNs,
// services and "*" are kept as written.

// BoundPrincipal ties a user or role ARN, as a policy names it, to the
// unique id of the principal it named when the policy was saved.
type BoundPrincipal struct {
	ARN string `json:"arn"`
	ID  string `json:"id"`
}

// awsPrincipals lists, once each, the AWS principals of the Principal and
// NotPrincipal elements of a policy that statements accepts.
func awsPrincipals(doc string) []string {
	stmts, err := statements(doc)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, st := range stmts {
		for _, el := range []string{"Principal", "NotPrincipal"} {
			var m map[string]json.RawMessage
			if json.Unmarshal(st[el], &m) != nil {
				continue
			}
			for _, p := range stringOrList(m["AWS"]) {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// bindPrincipals resolves the users and roles of account that doc names
// to their unique ids, in tx. One that does not exist, under exactly that
// ARN, is MalformedPolicyDocument, as IAM answers.
func bindPrincipals(tx store.Tx, account, doc string) ([]BoundPrincipal, error) {
	var out []BoundPrincipal
	for _, arn := range awsPrincipals(doc) {
		e, err := entityOf(tx, account, arn)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, BoundPrincipal{ARN: arn, ID: e.uniqueID()})
		}
	}
	return out, nil
}

// entityOf returns the user or role of account whose ARN is arn, nil for
// a principal that is neither, and MalformedPolicyDocument for one that
// does not exist.
func entityOf(tx store.Tx, account, arn string) (entity, error) {
	p, ok := ParseARN(arn)
	if !ok || p.Account != account || p.Kind != "user" && p.Kind != "role" {
		return nil, nil
	}
	k := userKind
	if p.Kind == "role" {
		k = roleKind
	}
	e, err := k.load(tx, account, p.Name)
	if CodeOf(err) == CodeNoSuchEntity || err == nil && e.ARN() != arn {
		return nil, newError(CodeMalformedPolicyDocument, `Invalid principal in policy: "AWS":%q`, arn)
	}
	return e, err
}

// renderTrust is the trust policy as GetRole shows it: as it was saved,
// except that a bound user or role that is gone (deleted, or recreated
// with a new id) shows as the unique id the policy holds.
func renderTrust(tx store.Tx, r *Role) (string, error) {
	gone := map[string]string{}
	for _, b := range r.TrustPrincipals {
		p, _ := ParseARN(b.ARN)
		k := userKind
		if p.Kind == "role" {
			k = roleKind
		}
		e, err := k.load(tx, p.Account, p.Name)
		if err != nil && CodeOf(err) != CodeNoSuchEntity {
			return "", err
		}
		if err != nil || e.ARN() != b.ARN || e.uniqueID() != b.ID {
			gone[b.ARN] = b.ID
		}
	}
	if len(gone) == 0 {
		return r.AssumeRolePolicyDocument, nil
	}
	doc, err := policy.ReplaceAWSPrincipals(r.AssumeRolePolicyDocument, gone)
	if err != nil {
		return "", fmt.Errorf("render the trust policy of %s: %w", r.ARN(), err)
	}
	return doc, nil
}

// unboundFor returns, for a caller who bears the name of a principal the
// trust policy bound to another unique id (one deleted and recreated),
// every bound ARN, none of which may match the caller; nil otherwise.
func (r *Role) unboundFor(c Principal) []string {
	key, id := policy.CallerKey(c.ARN, c.PrincipalID)
	namesake := false
	for _, b := range r.TrustPrincipals {
		if policy.BindingKey(b.ARN) == key && b.ID != id {
			namesake = true
			break
		}
	}
	if !namesake {
		return nil
	}
	out := make([]string, len(r.TrustPrincipals))
	for i, b := range r.TrustPrincipals {
		out[i] = b.ARN
	}
	return out
}
