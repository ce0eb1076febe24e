package policy

import "slices"

// prNobody is a principal that covers no caller: one WithoutPrincipals
// took out of a policy.
const prNobody principalKind = 255

// WithoutPrincipals returns a copy of p in which every principal whose
// canonical value (as Principals lists it) drop reports covers no caller.
// Statements, their order and their indices stay as they are, so a
// decision on the copy names the same statements. p is not changed.
//
// AWS binds the IAM users and roles a resource policy names to their
// unique ids: a principal deleted and recreated under the same name is
// not the one the policy named. The caller keeps that binding and, for a
// caller who has the name but not the id, decides with the copy that
// leaves those principals out.
func (p *Policy) WithoutPrincipals(drop func(value string) bool) *Policy {
	out := *p
	out.stmts = slices.Clone(p.stmts)
	for i := range out.stmts {
		st := &out.stmts[i]
		cloned := false
		for j := range st.principals {
			pr := st.principals[j]
			if pr.kind == prAnyone || pr.kind == prNobody || !drop(pr.value) {
				continue
			}
			if !cloned {
				st.principals, cloned = slices.Clone(st.principals), true
			}
			st.principals[j] = principal{kind: prNobody, account: pr.account, value: pr.value}
		}
	}
	return &out
}
