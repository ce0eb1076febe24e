package iamapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
)

// KeyExplainer decides, without acting, what a caller may do to a KMS key
// by the key's policy, its grants and the caller's identity policies.
// *kms.Service implements it.
type KeyExplainer interface {
	ExplainRequest(ctx context.Context, a kms.PolicyAuthorizer, in *kms.ExplainRequest) (*kms.Explanation, error)
}

// Simulator answers SimulatePrincipalPolicy: for a user, a role, a role
// session or an account root, and each action and resource, what kmsd
// would decide. On a kmsd key it decides as a real request would, with the
// key's own policy and grants (AWS takes a resource policy as a parameter
// instead); on any other resource, or "*", the identity policies alone
// decide, as AWS's simulator does without a resource policy.
type Simulator struct {
	Identities *identity.Store
	Keys       KeyExplainer // nil: kmsd keys are decided without their policy
	Clock      kms.Clock    // nil: the key service's clock, or the system's
	// Operator shows everything about every key: where in another
	// account's key policy the deciding statement stands, its condition
	// keys, the grant's id. Without it a key of another account than the
	// principal's tells only its decision, as a real request would, and
	// one that does not exist answers exactly as one that allows nothing.
	Operator bool
}

// SimulationInput is a simulation request, with AWS's member names.
type SimulationInput struct {
	PolicySourceArn string
	// PolicyInputList are identity policies simulated beside the
	// principal's own, as if attached to it.
	PolicyInputList []string
	ActionNames     []string
	ResourceArns    []string // none: "*"
	ContextEntries  []ContextEntry
}

// ContextEntry is a condition key's value in a simulation.
type ContextEntry struct {
	ContextKeyName   string
	ContextKeyValues []string
	ContextKeyType   string
}

// EvaluationResult is one action on one resource. The exported members
// other than Decision go on the wire with AWS's names.
type EvaluationResult struct {
	EvalActionName       string
	EvalResourceName     string
	EvalDecision         string // allowed, explicitDeny or implicitDeny
	MatchedStatements    []MatchedStatement
	MissingContextValues []string
	// EvalDecisionDetails is each side's answer across accounts, empty
	// within one account, nil for "*".
	EvalDecisionDetails map[string]string

	// What kmsd's own explanation adds: the decision with the statement
	// index and Sid, the key an alias resolved to, the grant that allowed,
	// and the AccessDeniedException a real request would get.
	Decision           policy.Decision
	KeyARN             string
	GrantID, GrantName string
	Message            string
	// KeyError says why a kms ARN named no key kmsd holds, when it did not.
	KeyError string
}

// MatchedStatement is a statement, or a grant, that decided.
type MatchedStatement struct {
	SourcePolicyID   string // the policy's name; "default" for a key policy; a grant's id
	SourcePolicyType string // user, role or resource
	Start, End       *position
}

// The answers of EvalDecision.
const (
	decisionAllowed      = "allowed"
	decisionExplicitDeny = "explicitDeny"
	decisionImplicitDeny = "implicitDeny"
)

// keyPolicyID is the name AWS KMS gives every key policy.
const keyPolicyID = "default"

// Simulate evaluates every action on every resource, in that order.
func (s *Simulator) Simulate(ctx context.Context, in *SimulationInput) ([]EvaluationResult, error) {
	out, _, err := s.SimulatePage(ctx, in, 0, len(in.ActionNames)*max(len(in.ResourceArns), 1))
	return out, err
}

// SimulatePage evaluates n of the action and resource pairs from the
// from-th on, and returns them with the number of pairs in all.
func (s *Simulator) SimulatePage(ctx context.Context, in *SimulationInput, from, n int) ([]EvaluationResult, int, error) {
	p, err := s.Principal(ctx, in.PolicySourceArn)
	if err != nil {
		return nil, 0, err
	}
	for i, doc := range in.PolicyInputList {
		pol, err := policy.ParseIdentityPolicy(doc)
		if err != nil {
			return nil, 0, invalidInput("PolicyInputList.%d is not a valid policy: %v", i+1, err)
		}
		p.policies = append(p.policies, simPolicy{name: fmt.Sprintf("PolicyInputList.%d", i+1), typ: "none", stmts: readStatements(doc)})
		p.parsed = append(p.parsed, pol)
	}
	rc, err := readContextEntries(in.ContextEntries)
	if err != nil {
		return nil, 0, err
	}
	resources := in.ResourceArns
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	total := len(in.ActionNames) * len(resources)
	var out []EvaluationResult
	for i := from; i < total && len(out) < n; i++ {
		res, err := s.evaluate(ctx, p, rc, in.ActionNames[i/len(resources)], resources[i%len(resources)])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, res)
	}
	return out, total, nil
}

// simPrincipal is the simulated caller and the identity policies it has.
type simPrincipal struct {
	caller   kms.Caller
	names    []string // what a key policy may name it by
	roleARN  string   // for a role session
	policies []simPolicy
	parsed   []*policy.Policy // policies, parsed; nil for one that does not parse
	keyDocs  map[string][]docStatement
}

// simPolicy is an identity policy, named as MatchedStatements names it.
type simPolicy struct {
	name, typ string // typ: user, role or none (PolicyInputList)
	stmts     []docStatement
}

// statementsOf reads a key policy's statements once per simulation.
func (p *simPrincipal) statementsOf(doc string) []docStatement {
	if st, ok := p.keyDocs[doc]; ok {
		return st
	}
	if p.keyDocs == nil {
		p.keyDocs = map[string][]docStatement{}
	}
	st := readStatements(doc)
	p.keyDocs[doc] = st
	return st
}

// IdentityPolicies implements kms.IdentityPolicies with the policies read
// once for the simulation, so that an index names the same policy.
func (p *simPrincipal) IdentityPolicies(context.Context, *kms.Caller) ([]*policy.Policy, error) {
	return p.parsed, nil
}

// simulatedSession is the session name a role is simulated under.
const simulatedSession = "SimulatePrincipalPolicy"

// Principal resolves a PolicySourceArn: an account root, an IAM user, a
// role (simulated as a session of it) or a role session.
func (s *Simulator) Principal(ctx context.Context, arn string) (*simPrincipal, error) {
	pa, ok := identity.ParseARN(arn)
	if !ok {
		return nil, &identity.Error{Code: identity.CodeInvalidInput, Message: "Invalid ARN " + echo(arn) + ": give the ARN of an IAM user, a role, a role session or an account root."}
	}
	p := &simPrincipal{caller: kms.Caller{AccountID: pa.Account, ARN: arn}}
	switch pa.Kind {
	case "root":
		if _, err := s.Identities.Account(ctx, pa.Account); err != nil {
			return nil, err
		}
		p.caller.Type, p.caller.PrincipalID = identity.TypeRoot, pa.Account
		p.names = []string{p.caller.ARN, pa.Account}
		return p, nil
	case "user":
		u, err := s.Identities.GetUser(ctx, pa.Account, pa.Name)
		if err != nil {
			return nil, err
		}
		if u.ARN() != arn {
			return nil, noSuchEntity("user", arn)
		}
		p.caller.Type, p.caller.PrincipalID, p.caller.UserName = identity.TypeIAMUser, u.UserID, u.UserName
		p.add("user", u.Policies)
	default: // role or assumed-role
		r, err := s.Identities.GetRole(ctx, pa.Account, pa.Name)
		if err != nil {
			return nil, err
		}
		session := pa.Session
		if pa.Kind == "role" {
			if r.ARN() != arn {
				return nil, noSuchEntity("role", arn)
			}
			session = simulatedSession
		} else if r.RoleName != pa.Name {
			return nil, noSuchEntity("role", arn)
		}
		p.caller.ARN = "arn:aws:sts::" + pa.Account + ":assumed-role/" + r.RoleName + "/" + session
		p.caller.Type, p.caller.PrincipalID = identity.TypeAssumedRole, r.RoleID+":"+session
		p.roleARN = r.ARN()
		p.add("role", r.Policies)
	}
	p.names = []string{p.caller.ARN, identity.RootARN(pa.Account), pa.Account}
	if p.roleARN != "" {
		p.names = append(p.names, p.roleARN)
	}
	return p, nil
}

// add adds an entity's inline policies.
func (p *simPrincipal) add(typ string, ps []identity.InlinePolicy) {
	for _, ip := range ps {
		pol, err := policy.ParseIdentityPolicy(ip.Document)
		if err != nil {
			pol = nil // a stored policy that no longer parses grants nothing
		}
		p.policies = append(p.policies, simPolicy{name: ip.Name, typ: typ, stmts: readStatements(ip.Document)})
		p.parsed = append(p.parsed, pol)
	}
}

func noSuchEntity(noun, arn string) error {
	return &identity.Error{Code: identity.CodeNoSuchEntity, Message: "The " + noun + " with ARN " + arn + " cannot be found."}
}

// evaluate decides one action on one resource.
func (s *Simulator) evaluate(ctx context.Context, p *simPrincipal, rc *requestContext, action, resource string) (EvaluationResult, error) {
	res := EvaluationResult{EvalActionName: action, EvalResourceName: resource}
	region, account := arnRegion(resource), arnAccount(resource)
	caller := p.caller
	caller.Region = region
	conds := rc.conditions(region)
	if s.Keys != nil && strings.HasPrefix(resource, "arn:aws:kms:") {
		a := kms.PolicyAuthorizer{Identities: p, Clock: rc.clock(s.Clock)}
		ex, err := s.Keys.ExplainRequest(ctx, a, &kms.ExplainRequest{Caller: caller, Action: action, KeyID: resource, EncryptionContext: rc.ec, Conditions: conds})
		switch code := kmserr.CodeOf(err); {
		case err == nil:
		case code == kmserr.NotFound || code == kmserr.InvalidArn || code == kmserr.AccessDenied:
			// No such key, or none this caller may learn of: without a key
			// policy nothing allows.
			req := s.request(p, rc, conds, action, resource, account)
			fromIdentity(&res, p, policy.Decide(req, nil, p.parsed, false), action)
			res.KeyError = kmserr.As(err).Message
			res.MissingContextValues = p.missing(action, nil, rc, false, true)
			res.EvalDecisionDetails = map[string]string{}
			if account != p.caller.AccountID {
				res.EvalDecisionDetails["IAM Policy"] = decisionOf(policy.DecideIdentity(req, p.parsed))
				res.EvalDecisionDetails["Resource Policy"] = decisionImplicitDeny
			}
			return res, nil
		case code == kmserr.Internal:
			cause := err
			if c := kmserr.As(err).Cause; c != nil {
				cause = c // what failed, for the log
			}
			return res, &identity.Error{Code: codePolicyEvaluation, Message: "The policies of " + p.caller.ARN + " could not be evaluated for " + action + " on " + resource + ".", Cause: cause}
		default:
			return res, &identity.Error{Code: identity.CodeInvalidInput, Message: kmserr.As(err).Message}
		}
		keyStmts := p.statementsOf(ex.KeyPolicy)
		if !s.Operator && arnAccount(ex.KeyARN) != p.caller.AccountID {
			keyStmts = nil // another account's policy: its decision, nothing more
			ex.GrantID, ex.GrantName = "", ""
		}
		fromKey(&res, p, ex, keyStmts)
		res.MissingContextValues = p.missing(action, keyStmts, rc, true, true)
		return res, nil
	}
	req := s.request(p, rc, conds, action, resource, account)
	d := policy.DecideIdentity(req, p.parsed)
	fromIdentity(&res, p, d, action)
	res.MissingContextValues = p.missing(action, nil, rc, false, resource != "*")
	if resource != "*" {
		res.EvalDecisionDetails = details(p.caller.AccountID, account, d)
	}
	return res, nil
}

// request is the policy engine's request for a decision by identity
// policies alone.
func (s *Simulator) request(p *simPrincipal, rc *requestContext, conds map[string][]string, action, resource, account string) *policy.Request {
	typ, acct, ok := policy.ParsePrincipal(p.caller.ARN)
	if !ok {
		typ, acct = policy.Anonymous, p.caller.AccountID
	}
	clock := rc.clock(s.Clock)
	if clock == nil {
		clock = kms.SystemClock
	}
	req := &policy.Request{Principal: p.caller.ARN, Account: acct, Type: typ, UserID: p.caller.PrincipalID,
		Action: action, Resource: resource, ResourceAccount: account, Time: clock.Now(), Context: policy.Context{}}
	req.Context.SetEncryptionContext(rc.ec)
	for k, v := range conds {
		if len(v) > 0 {
			req.Context[k] = v
		}
	}
	return req
}
