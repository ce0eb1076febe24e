package iamapi

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/kmsd/kmsd/internal/identity"
)

// The SimulatePrincipalPolicy answer, in AWS's element names.
type simulateResult struct {
	EvaluationResults members[xmlEvaluationResult] `xml:"EvaluationResults"`
	IsTruncated       bool                         `xml:"IsTruncated"`
	Marker            string                       `xml:"Marker,omitempty"`
}

type xmlEvaluationResult struct {
	EvalActionName          string                        `xml:"EvalActionName"`
	EvalResourceName        string                        `xml:"EvalResourceName"`
	EvalDecision            string                        `xml:"EvalDecision"`
	MatchedStatements       members[xmlStatement]         `xml:"MatchedStatements"`
	MissingContextValues    members[string]               `xml:"MissingContextValues"`
	EvalDecisionDetails     *xmlDecisionDetails           `xml:"EvalDecisionDetails,omitempty"`
	ResourceSpecificResults *members[xmlResourceSpecific] `xml:"ResourceSpecificResults,omitempty"`
}

type xmlResourceSpecific struct {
	EvalResourceName     string                `xml:"EvalResourceName"`
	EvalResourceDecision string                `xml:"EvalResourceDecision"`
	MatchedStatements    members[xmlStatement] `xml:"MatchedStatements"`
	MissingContextValues members[string]       `xml:"MissingContextValues"`
	EvalDecisionDetails  *xmlDecisionDetails   `xml:"EvalDecisionDetails,omitempty"`
}

type xmlStatement struct {
	SourcePolicyID   string    `xml:"SourcePolicyId,omitempty"`
	SourcePolicyType string    `xml:"SourcePolicyType,omitempty"`
	StartPosition    *position `xml:"StartPosition,omitempty"`
	EndPosition      *position `xml:"EndPosition,omitempty"`
}

// xmlDecisionDetails is a map as the query protocol writes one.
type xmlDecisionDetails struct {
	Entry []xmlEntry `xml:"entry"`
}

type xmlEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

const defaultMaxItems = 100

// simulatePrincipalPolicy serves iam:SimulatePrincipalPolicy, authorized
// on the ARN of the simulated principal.
func simulatePrincipalPolicy(ctx context.Context, h *Handler, c *call) (any, error) {
	in := SimulationInput{
		PolicySourceArn: c.p.str("PolicySourceArn", true, 20, 2048, "", nil),
		PolicyInputList: c.p.strList("PolicyInputList", false, 1, 131072),
		ActionNames:     c.p.strList("ActionNames", true, 3, 128),
		ResourceArns:    c.p.strList("ResourceArns", false, 1, 2048),
		ContextEntries:  c.p.contextEntries(),
	}
	maxItems := c.p.num("MaxItems", 1, 1000)
	marker := c.p.str("Marker", false, 1, 320, `[\u0020-\u00FF]+`, nil)
	var unsupported []string
	for _, name := range []string{"PermissionsBoundaryPolicyInputList", "ResourcePolicy", "ResourceOwner", "CallerArn", "ResourceHandlingOption"} {
		if c.p.has(name) {
			unsupported = append(unsupported, name)
		}
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("policySourceArn", in.PolicySourceArn)
	c.param("actionNames", in.ActionNames)
	if len(in.ResourceArns) > 0 {
		c.param("resourceArns", in.ResourceArns)
	}
	if len(in.ContextEntries) > 0 {
		c.param("contextEntries", auditContextEntries(in.ContextEntries))
	}
	c.param("maxItems", maxItems)
	c.param("marker", marker)
	if len(unsupported) > 0 {
		return nil, invalidInput("kmsd does not take %s: on a kmsd key it simulates the key's own policy and grants, with the principal's own policies.", unsupported[0])
	}
	if len(in.ActionNames) == 0 {
		return nil, invalidInput("ActionNames must name at least one action.")
	}
	if _, ok := identity.ParseARN(in.PolicySourceArn); !ok {
		return nil, invalidInput("Invalid ARN %s: give the ARN of an IAM user, a role, a role session or an account root.", echo(in.PolicySourceArn))
	}
	if err := h.authorize(ctx, c, in.PolicySourceArn); err != nil {
		return nil, err
	}
	from := 0
	if marker != "" {
		n, err := strconv.Atoi(marker)
		if err != nil || n <= 0 {
			return nil, invalidInput("Invalid Marker.")
		}
		from = n
	}
	if maxItems == 0 {
		maxItems = defaultMaxItems
	}
	results, total, err := h.sim.SimulatePage(ctx, &in, from, maxItems)
	if err != nil {
		return nil, err
	}
	if from > total {
		return nil, invalidInput("Invalid Marker.")
	}
	out := simulateResult{}
	out.EvaluationResults.Member = make([]xmlEvaluationResult, 0, len(results))
	for i := range results {
		out.EvaluationResults.Member = append(out.EvaluationResults.Member, toXMLResult(&results[i], len(in.ResourceArns) > 0))
	}
	if next := from + len(results); next < total {
		out.IsTruncated, out.Marker = true, strconv.Itoa(next)
	}
	return out, nil
}

// toXMLResult writes a result as AWS does: with resources named, the
// missing context values and the decision's details per resource too.
func toXMLResult(r *EvaluationResult, perResource bool) xmlEvaluationResult {
	stmts := members[xmlStatement]{Member: make([]xmlStatement, 0, len(r.MatchedStatements))}
	for _, m := range r.MatchedStatements {
		stmts.Member = append(stmts.Member, xmlStatement{SourcePolicyID: m.SourcePolicyID, SourcePolicyType: m.SourcePolicyType, StartPosition: m.Start, EndPosition: m.End})
	}
	missing := members[string]{Member: r.MissingContextValues}
	x := xmlEvaluationResult{EvalActionName: r.EvalActionName, EvalResourceName: r.EvalResourceName, EvalDecision: r.EvalDecision,
		MatchedStatements: stmts, MissingContextValues: missing, EvalDecisionDetails: xmlDetails(r.EvalDecisionDetails)}
	if perResource {
		rs := xmlResourceSpecific{EvalResourceName: r.EvalResourceName, EvalResourceDecision: r.EvalDecision,
			MatchedStatements: stmts, MissingContextValues: missing}
		if len(r.EvalDecisionDetails) > 0 {
			rs.EvalDecisionDetails = xmlDetails(r.EvalDecisionDetails)
		}
		x.ResourceSpecificResults = &members[xmlResourceSpecific]{Member: []xmlResourceSpecific{rs}}
		x.MissingContextValues = members[string]{}
	}
	return x
}

func xmlDetails(m map[string]string) *xmlDecisionDetails {
	if m == nil {
		return nil
	}
	d := &xmlDecisionDetails{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		d.Entry = append(d.Entry, xmlEntry{Key: k, Value: m[k]})
	}
	return d
}

func auditContextEntries(es []ContextEntry) []any {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = map[string]any{"contextKeyName": e.ContextKeyName, "contextKeyValues": e.ContextKeyValues, "contextKeyType": e.ContextKeyType}
	}
	return out
}
