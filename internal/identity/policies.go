package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/store"
)

// PolicyValidator checks policy documents before they are stored. An error
// is reported to the client as MalformedPolicyDocument with the error's
// text (or, for an *Error, with its own code and message). The full policy
// language plugs in here.
type PolicyValidator interface {
	// ValidateIdentityPolicy checks a user's or role's inline policy.
	ValidateIdentityPolicy(doc string) error
	// ValidateTrustPolicy checks a role's trust policy.
	ValidateTrustPolicy(doc string) error
}

// BasicPolicies checks the shape of a document, not its meaning: a JSON
// object with a known Version, and a Statement that is an object or a
// non-empty list of objects, each with Effect Allow or Deny and an Action
// or NotAction. Identity policies must name resources and no principal;
// trust policies must name a principal and no resource.
type BasicPolicies struct{}

// ValidateIdentityPolicy implements PolicyValidator.
func (BasicPolicies) ValidateIdentityPolicy(doc string) error {
	stmts, err := statements(doc)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if has(st, "Principal") || has(st, "NotPrincipal") {
			return malformed("Policy document should not specify a principal.")
		}
		if !has(st, "Resource") && !has(st, "NotResource") {
			return malformed("Policy statement must contain resources.")
		}
	}
	return nil
}

// ValidateTrustPolicy implements PolicyValidator.
func (BasicPolicies) ValidateTrustPolicy(doc string) error {
	stmts, err := statements(doc)
	if err != nil {
		return err
	}
	for _, st := range stmts {
		if has(st, "Resource") || has(st, "NotResource") {
			return malformed("Has prohibited field Resource")
		}
		if !has(st, "Principal") && !has(st, "NotPrincipal") {
			return malformed("Missing required field Principal")
		}
	}
	return nil
}

func malformed(msg string) *Error { return &Error{Code: CodeMalformedPolicyDocument, Message: msg} }

func has(m map[string]json.RawMessage, k string) bool { _, ok := m[k]; return ok }

// statements parses a policy document down to its statements.
func statements(doc string) ([]map[string]json.RawMessage, error) {
	syntax := malformed("Syntax errors in policy.")
	dec := json.NewDecoder(strings.NewReader(doc))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil || top == nil || dec.More() {
		return nil, syntax
	}
	if v, ok := top["Version"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || (s != "2012-10-17" && s != "2008-10-17") {
			return nil, malformed("The policy failed legacy parsing")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed("Missing required field Statement")
	}
	var list []map[string]json.RawMessage
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, syntax
		}
		list = append(list, one)
	} else if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, syntax
	}
	for _, st := range list {
		if st == nil {
			return nil, syntax
		}
		var effect string
		if json.Unmarshal(st["Effect"], &effect) != nil {
			return nil, malformed("Missing required field Effect")
		}
		if effect != "Allow" && effect != "Deny" {
			return nil, malformed("Invalid effect: " + effect)
		}
		if !has(st, "Action") && !has(st, "NotAction") {
			return nil, malformed("Policy statement must contain actions.")
		}
	}
	return list, nil
}

// policyError turns a validator's error into MalformedPolicyDocument,
// keeping an *Error as it is.
func policyError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeMalformedPolicyDocument, Message: err.Error(), Cause: err}
}

// PutUserPolicy adds or replaces an inline policy of a user.
func (s *Store) PutUserPolicy(ctx context.Context, account, user, name, doc string) error {
	return s.putPolicy(ctx, userKind, account, user, name, doc)
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Store) PutRolePolicy(ctx context.Context, account, role, name, doc string) error {
	return s.putPolicy(ctx, roleKind, account, role, name, doc)
}

// GetUserPolicy returns an inline policy of a user.
func (s *Store) GetUserPolicy(ctx context.Context, account, user, name string) (*InlinePolicy, error) {
	return s.getPolicy(ctx, userKind, account, user, name)
}

// GetRolePolicy returns an inline policy of a role.
func (s *Store) GetRolePolicy(ctx context.Context, account, role, name string) (*InlinePolicy, error) {
	return s.getPolicy(ctx, roleKind, account, role, name)
}

// DeleteUserPolicy removes an inline policy of a user.
func (s *Store) DeleteUserPolicy(ctx context.Context, account, user, name string) error {
	return s.deletePolicy(ctx, userKind, account, user, name)
}

// DeleteRolePolicy removes an inline policy of a role.
func (s *Store) DeleteRolePolicy(ctx context.Context, account, role, name string) error {
	return s.deletePolicy(ctx, roleKind, account, role, name)
}

// ListUserPolicies returns a page of the names of a user's inline policies.
func (s *Store) ListUserPolicies(ctx context.Context, account, user string, in ListInput) (Page[string], error) {
	return s.listPolicies(ctx, userKind, account, user, in)
}

// ListRolePolicies returns a page of the names of a role's inline policies.
func (s *Store) ListRolePolicies(ctx context.Context, account, role string, in ListInput) (Page[string], error) {
	return s.listPolicies(ctx, roleKind, account, role, in)
}

func (s *Store) putPolicy(ctx context.Context, k kind, account, owner, name, doc string) error {
	if !ValidName(name, 128) {
		return newError(CodeInvalidInput, "The policy name is not valid.")
	}
	if err := policyError(s.policies.ValidateIdentityPolicy(doc)); err != nil {
		return err
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		e, err := k.load(tx, account, owner)
		if err != nil {
			return err
		}
		ps := e.inline()
		if i := findPolicy(*ps, name); i >= 0 {
			(*ps)[i] = InlinePolicy{Name: name, Document: doc}
		} else {
			*ps = append(*ps, InlinePolicy{Name: name, Document: doc})
			sortPolicies(*ps)
		}
		total := 0
		for _, p := range *ps {
			total += policySize(p.Document)
		}
		if limit := k.policySize(s.limits); total > limit {
			return newError(CodeLimitExceeded, "Maximum policy size of %d bytes exceeded for %s %s", limit, k.noun, e.displayName())
		}
		return putJSON(tx, k.bucket, e.key(), e)
	})
	if err == nil {
		s.invalidate()
	}
	return err
}

func sortPolicies(ps []InlinePolicy) {
	slices.SortFunc(ps, func(a, b InlinePolicy) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
}

func (s *Store) getPolicy(ctx context.Context, k kind, account, owner, name string) (*InlinePolicy, error) {
	var out *InlinePolicy
	err := s.st.View(ctx, func(tx store.Tx) error {
		e, err := k.load(tx, account, owner)
		if err != nil {
			return err
		}
		ps := *e.inline()
		i := findPolicy(ps, name)
		if i < 0 {
			return newError(CodeNoSuchEntity, "The %s policy with name %s cannot be found.", k.noun, name)
		}
		p := ps[i]
		out = &p
		return nil
	})
	return out, err
}

func (s *Store) deletePolicy(ctx context.Context, k kind, account, owner, name string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		e, err := k.load(tx, account, owner)
		if err != nil {
			return err
		}
		ps := e.inline()
		i := findPolicy(*ps, name)
		if i < 0 {
			return newError(CodeNoSuchEntity, "The %s policy with name %s cannot be found.", k.noun, name)
		}
		*ps = append((*ps)[:i], (*ps)[i+1:]...)
		return putJSON(tx, k.bucket, e.key(), e)
	})
	if err == nil {
		s.invalidate()
	}
	return err
}

func (s *Store) listPolicies(ctx context.Context, k kind, account, owner string, in ListInput) (Page[string], error) {
	var names []string
	err := s.st.View(ctx, func(tx store.Tx) error {
		e, err := k.load(tx, account, owner)
		if err != nil {
			return err
		}
		names = policyNames(*e.inline())
		return nil
	})
	if err != nil {
		return Page[string]{}, err
	}
	return paginate(names, strings.ToLower, in)
}

// IdentityPolicies returns the identity policy documents of the principal
// named by callerARN, exactly as they were put: a user's inline policies,
// or the inline policies of a role and of its sessions
// (arn:aws:sts::ACCT:assumed-role/ROLE/SESSION). An account root has none.
// An ARN of a user or role that does not exist is NoSuchEntity. Results are
// cached until a policy, user or role changes through this Store.
func (s *Store) IdentityPolicies(ctx context.Context, callerARN string) ([]string, error) {
	if v, ok := s.policyOf.Load(callerARN); ok && s.cacheFresh() {
		return v.([]string), nil
	}
	p, ok := ParseARN(callerARN)
	if !ok {
		return nil, newError(CodeValidation, "%s is not the ARN of an IAM principal.", callerARN)
	}
	k := userKind
	switch p.Kind {
	case "root":
		return nil, nil
	case "role", "assumed-role":
		k = roleKind
	}
	gen := s.gen.Load()
	var docs []string
	err := s.st.View(ctx, func(tx store.Tx) error {
		e, err := k.load(tx, p.Account, p.Name)
		if err != nil {
			return err
		}
		if p.Kind != "assumed-role" && !strings.EqualFold(e.ARN(), callerARN) {
			return newError(CodeNoSuchEntity, "The %s with ARN %s cannot be found.", k.noun, callerARN)
		}
		docs = docs[:0]
		for _, ip := range *e.inline() {
			docs = append(docs, ip.Document)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.fill(&s.policyOf, &s.nPolicy, gen, callerARN, docs)
	return docs, nil
}
