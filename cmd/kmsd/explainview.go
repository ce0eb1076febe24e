package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/kmsd/kmsd/internal/iamapi"
)

// explainView is one decision as both forms of `kmsd admin explain` print
// it: from a data directory through the simulator, or from a running
// server's SimulatePrincipalPolicy answer.
type explainView struct {
	Principal, Action, Resource string
	Decision                    string // allowed, explicitDeny or implicitDeny
	Statements                  []stmtView
	Missing                     []string
}

// stmtView is a statement that decided: where it stands, in which policy.
type stmtView struct {
	ID, Type     string // SourcePolicyId and SourcePolicyType
	Line, Column int    // 0 when the answer gave no position
}

func viewOf(principal string, r *iamapi.EvaluationResult) explainView {
	v := explainView{Principal: principal, Action: r.EvalActionName, Resource: r.EvalResourceName, Decision: r.EvalDecision, Missing: r.MissingContextValues}
	if r.KeyARN != "" {
		v.Resource = r.KeyARN
	}
	for _, m := range r.MatchedStatements {
		s := stmtView{ID: m.SourcePolicyID, Type: m.SourcePolicyType}
		if m.Start != nil {
			s.Line, s.Column = m.Start.Line, m.Start.Column
		}
		v.Statements = append(v.Statements, s)
	}
	return v
}

// writeVerdict writes the first line: who may or may not do what.
func (v explainView) writeVerdict(w io.Writer) {
	verdict := "DENIED"
	if v.Decision == "allowed" {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(w, "%s: %s %s on %s\n", verdict, v.Principal, v.Action, v.Resource)
}

// writeStatements writes a line for each statement or grant that decided,
// and the condition keys the request's context lacked.
func (v explainView) writeStatements(w io.Writer, grantName string) {
	if len(v.Statements) == 0 && v.Decision != "allowed" {
		fmt.Fprintln(w, "  no statement or grant allows it")
	}
	for _, s := range v.Statements {
		var where string
		switch {
		case s.Type == "resource" && s.ID == "default":
			where = "statement: key policy"
		case s.Type == "resource":
			where = "grant: " + s.ID
			if grantName != "" {
				where += fmt.Sprintf(" (%q)", grantName)
			}
		case s.Type == "user" || s.Type == "role":
			where = fmt.Sprintf("statement: inline policy %q of the %s", s.ID, s.Type)
		default:
			where = "statement: " + s.ID
		}
		if s.Line > 0 {
			where += fmt.Sprintf(", line %d, column %d", s.Line, s.Column)
		}
		fmt.Fprintf(w, "  %s\n", where)
	}
	if len(v.Missing) > 0 {
		fmt.Fprintf(w, "  context keys the policies use that the request lacks: %s\n", strings.Join(v.Missing, ", "))
	}
}

// keyResourceARN turns --key into the ARN SimulatePrincipalPolicy takes: a
// key id or alias name is of the principal's account, in region.
func keyResourceARN(key, region, account string) string {
	switch {
	case strings.HasPrefix(key, "arn:"):
		return key
	case strings.HasPrefix(key, "alias/"):
		return "arn:aws:kms:" + region + ":" + account + ":" + key
	}
	return "arn:aws:kms:" + region + ":" + account + ":key/" + key
}

// contextEntries turns --context pairs into kms:EncryptionContext:<key>
// entries and --condition pairs into entries of their own keys.
func contextEntries(ec, conds map[string]string) []iamapi.ContextEntry {
	var out []iamapi.ContextEntry
	for _, k := range slices.Sorted(maps.Keys(ec)) {
		out = append(out, iamapi.ContextEntry{ContextKeyName: "kms:EncryptionContext:" + k, ContextKeyValues: []string{ec[k]}, ContextKeyType: "string"})
	}
	for _, k := range slices.Sorted(maps.Keys(conds)) {
		out = append(out, iamapi.ContextEntry{ContextKeyName: k, ContextKeyValues: []string{conds[k]}, ContextKeyType: "string"})
	}
	return out
}

func sdkContextEntries(es []iamapi.ContextEntry) []types.ContextEntry {
	out := make([]types.ContextEntry, len(es))
	for i, e := range es {
		out[i] = types.ContextEntry{ContextKeyName: aws.String(e.ContextKeyName), ContextKeyValues: e.ContextKeyValues, ContextKeyType: types.ContextKeyTypeEnum(e.ContextKeyType)}
	}
	return out
}
