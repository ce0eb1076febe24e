package iamapi

import (
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/policy"
)

// fromKey fills a result from kmsd's decision on a key whose policy's
// statements are keyStmts.
func fromKey(res *EvaluationResult, p *simPrincipal, ex *kms.Explanation, keyStmts []docStatement) {
	d := ex.Decision
	res.Decision, res.KeyARN, res.GrantID, res.GrantName = d, ex.KeyARN, ex.GrantID, ex.GrantName
	res.EvalDecision, res.Message = decisionOf(d), ex.Message
	key := func(i int) MatchedStatement { return located(keyPolicyID, "resource", keyStmts, i) }
	switch d.Reason {
	case policy.ResourcePolicyDenies, policy.KeyPolicyAllows:
		res.MatchedStatements = []MatchedStatement{key(d.Statement)}
	case policy.IdentityPolicyDenies:
		res.MatchedStatements = []MatchedStatement{p.statement(d.Policy, d.Statement)}
	case policy.IdentityPolicyAllows:
		if d.KeyPolicy.Outcome == policy.Allowed {
			res.MatchedStatements = append(res.MatchedStatements, key(d.KeyPolicy.Statement))
		}
		if d.Policy >= 0 {
			res.MatchedStatements = append(res.MatchedStatements, p.statement(d.Policy, d.Statement))
		}
	case policy.GrantAllows:
		id := ex.GrantID
		if id == "" {
			id = "grant" // of a key of another account
		}
		res.MatchedStatements = []MatchedStatement{{SourcePolicyID: id, SourcePolicyType: "resource"}}
	}
	keyAccount := arnAccount(ex.KeyARN)
	res.EvalDecisionDetails = map[string]string{}
	if keyAccount != p.caller.AccountID {
		res.EvalDecisionDetails["IAM Policy"] = decisionOf(ex.Identity)
		res.EvalDecisionDetails["Resource Policy"] = outcomeOf(d.KeyPolicy)
	}
}

// fromIdentity fills a result from a decision by identity policies.
func fromIdentity(res *EvaluationResult, p *simPrincipal, d policy.Decision, action string) {
	res.Decision, res.EvalDecision = d, decisionOf(d)
	res.Message = d.AccessDeniedMessage(p.caller.ARN, action, res.EvalResourceName)
	if d.Policy >= 0 && d.Statement >= 0 {
		res.MatchedStatements = []MatchedStatement{p.statement(d.Policy, d.Statement)}
	}
}

// details is EvalDecisionDetails for a decision by identity policies:
// the IAM side alone across accounts, empty within one.
func details(callerAccount, resourceAccount string, d policy.Decision) map[string]string {
	m := map[string]string{}
	if resourceAccount != "" && resourceAccount != callerAccount {
		m["IAM Policy"] = decisionOf(d)
	}
	return m
}

// statement is statement j of the principal's identity policy i.
func (p *simPrincipal) statement(i, j int) MatchedStatement {
	if i < 0 || i >= len(p.policies) {
		return MatchedStatement{}
	}
	return located(p.policies[i].name, p.policies[i].typ, p.policies[i].stmts, j)
}

func located(id, typ string, stmts []docStatement, i int) MatchedStatement {
	m := MatchedStatement{SourcePolicyID: id, SourcePolicyType: typ}
	if i >= 0 && i < len(stmts) {
		m.Start, m.End = &stmts[i].start, &stmts[i].end
	}
	return m
}

func decisionOf(d policy.Decision) string {
	switch {
	case d.Allowed:
		return decisionAllowed
	case d.Reason == policy.ResourcePolicyDenies || d.Reason == policy.IdentityPolicyDenies:
		return decisionExplicitDeny
	}
	return decisionImplicitDeny
}

func outcomeOf(r policy.Result) string {
	switch {
	case r.Outcome == policy.Denied:
		return decisionExplicitDeny
	case r.Outcome == policy.Allowed && r.Match != policy.MatchNone:
		return decisionAllowed
	}
	return decisionImplicitDeny
}

// missing lists the condition keys that the statements naming action use
// and that neither the request's context entries nor kmsd itself supply.
func (p *simPrincipal) missing(action string, keyStmts []docStatement, rc *requestContext, onKey, withResource bool) []string {
	out := []string{}
	add := func(stmts []docStatement) {
		for i := range stmts {
			if !stmts[i].appliesTo(action) || !stmts[i].names(p.names) {
				continue
			}
			for _, k := range stmts[i].keys {
				if !rc.supplied(strings.ToLower(k), onKey, withResource) && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, k) }) {
					out = append(out, k)
				}
			}
		}
	}
	add(keyStmts)
	for _, ip := range p.policies {
		add(ip.stmts)
	}
	slices.Sort(out)
	return out
}

func arnRegion(arn string) string  { return arnField(arn, 3) }
func arnAccount(arn string) string { return arnField(arn, 4) }

func arnField(arn string, i int) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[i]
}
