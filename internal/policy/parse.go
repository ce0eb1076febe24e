package policy

import (
	"errors"
	"strings"
)

// effect is a statement's Effect.
type effect uint8

const (
	effectAllow effect = iota
	effectDeny
)

// Policy versions. A document without Version is read as 2008-10-17, in
// which ${…} is literal text rather than a policy variable.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// MaxKeyPolicySize is the key policy quota in bytes (32 KB, not adjustable).
const MaxKeyPolicySize = 32768

// Policy is a parsed, validated and compiled policy document. It is
// immutable and safe for concurrent use.
type Policy struct {
	Version string
	ID      string
	stmts   []statement
}

type statement struct {
	sid    string
	effect effect

	hasPrincipal bool
	notPrincipal bool
	principals   []principal

	hasAction bool // Action or NotAction present
	notAction bool
	actions   []pattern

	hasResource bool // Resource or NotResource present
	notResource bool
	resources   []pattern

	conds []condition
}

// Len returns the number of statements.
func (p *Policy) Len() int { return len(p.stmts) }

// Principals lists the principals the policy names, in canonical form (an
// account id becomes arn:aws:iam::ACCT:root), without "*" and without
// repeats, so a caller can check that each one exists.
func (p *Policy) Principals() []string {
	var out []string
	seen := map[string]bool{}
	for i := range p.stmts {
		for _, pr := range p.stmts[i].principals {
			if pr.kind != prAnyone && !seen[pr.value] {
				seen[pr.value] = true
				out = append(out, pr.value)
			}
		}
	}
	return out
}

// Parse reads and validates a policy document of any kind: the syntax and
// the meaning of every element, but no rule that depends on where the
// policy is attached (see ParseKeyPolicy, ParseIdentityPolicy and
// ParseTrustPolicy). Every error is a *MalformedError.
func Parse(doc string) (*Policy, error) {
	root, err := readDocument(doc)
	if err != nil {
		return nil, err
	}
	return parseRoot(root)
}

// readDocument reads a document's JSON; every error is a *MalformedError.
func readDocument(doc string) (*jvalue, error) {
	root, err := readJSON(doc)
	if err != nil {
		var me *MalformedError
		if errors.As(err, &me) {
			return nil, me
		}
		return nil, malformed("The policy is not valid JSON.")
	}
	return root, nil
}

// parseRoot compiles a document read by readDocument.
func parseRoot(root *jvalue) (*Policy, error) {
	if root.kind != jObject {
		return nil, malformed("The policy must be a JSON object.")
	}
	p := &Policy{Version: Version2008}
	var stmtsV *jvalue
	for _, f := range root.fields {
		switch f.name {
		case "Version":
			if f.val.kind != jString || (f.val.s != Version2012 && f.val.s != Version2008) {
				return nil, malformed("The policy Version must be %q or %q.", Version2012, Version2008)
			}
			p.Version = f.val.s
		case "Id":
			if f.val.kind != jString {
				return nil, malformed("The policy Id must be a string.")
			}
			p.ID = f.val.s
		case "Statement":
			stmtsV = f.val
		default:
			return nil, malformed("The policy contains an unknown element %q.", f.name)
		}
	}
	if stmtsV == nil {
		return nil, malformed("The policy must contain a Statement.")
	}
	var items []*jvalue
	switch stmtsV.kind {
	case jObject:
		items = []*jvalue{stmtsV}
	case jArray:
		items = stmtsV.items
	default:
		return nil, malformed("The policy Statement must be an object or an array of objects.")
	}
	if len(items) == 0 {
		return nil, malformed("The policy must contain at least one statement.")
	}
	vars := p.Version == Version2012
	sids := map[string]bool{}
	for _, it := range items {
		st, err := parseStatement(it, vars)
		if err != nil {
			return nil, err
		}
		if st.sid != "" {
			if sids[st.sid] {
				return nil, malformed(msgDuplicateSid)
			}
			sids[st.sid] = true
		}
		p.stmts = append(p.stmts, st)
	}
	return p, nil
}

func parseStatement(v *jvalue, vars bool) (statement, error) {
	var st statement
	if v.kind != jObject {
		return st, malformed("Each policy statement must be a JSON object.")
	}
	var effV, condV *jvalue
	for _, f := range v.fields {
		switch f.name {
		case "Sid":
			if f.val.kind != jString {
				return st, malformed("The statement Sid must be a string.")
			}
			st.sid = f.val.s
		case "Effect":
			effV = f.val
		case "Principal", "NotPrincipal":
			if st.hasPrincipal {
				return st, malformed("A statement cannot contain both Principal and NotPrincipal.")
			}
			ps, err := parsePrincipals(f.val)
			if err != nil {
				return st, err
			}
			st.hasPrincipal, st.notPrincipal, st.principals = true, f.name == "NotPrincipal", ps
		case "Action", "NotAction":
			if st.hasAction {
				return st, malformed("A statement cannot contain both Action and NotAction.")
			}
			list, ok := f.val.strings()
			if !ok {
				return st, malformed("The statement %s must be a string or an array of strings.", f.name)
			}
			for _, a := range list {
				if err := checkAction(a); err != nil {
					return st, err
				}
				st.actions = append(st.actions, compilePattern(a, modeString, false, true))
			}
			st.hasAction, st.notAction = true, f.name == "NotAction"
		case "Resource", "NotResource":
			if st.hasResource {
				return st, malformed("A statement cannot contain both Resource and NotResource.")
			}
			list, ok := f.val.strings()
			if !ok {
				return st, malformed("The statement %s must be a string or an array of strings.", f.name)
			}
			for _, r := range list {
				if r != "*" && !strings.HasPrefix(r, "arn:") {
					return st, malformed(msgResourceNotARN, r)
				}
				st.resources = append(st.resources, compilePattern(r, modeResource, vars, false))
			}
			st.hasResource, st.notResource = true, f.name == "NotResource"
		case "Condition":
			condV = f.val
		default:
			return st, malformed("The statement contains an unknown element %q.", f.name)
		}
	}
	switch {
	case effV == nil:
		return st, malformed("Each statement must have an Effect of \"Allow\" or \"Deny\".")
	case effV.kind == jString && effV.s == "Allow":
		st.effect = effectAllow
	case effV.kind == jString && effV.s == "Deny":
		st.effect = effectDeny
	default:
		return st, malformed("The statement Effect must be \"Allow\" or \"Deny\".")
	}
	if st.notPrincipal && st.effect == effectAllow {
		// AWS advises against it and kmsd refuses it: "allow everyone but"
		// is too easy to get wrong.
		return st, malformed("NotPrincipal is supported only in statements with \"Effect\": \"Deny\".")
	}
	if condV != nil {
		if condV.kind != jObject {
			return st, malformed("The statement Condition must be an object of condition operators.")
		}
		for _, f := range condV.fields {
			cs, err := parseCondition(f.name, f.val, vars)
			if err != nil {
				return st, err
			}
			st.conds = append(st.conds, cs...)
		}
	}
	return st, nil
}

// checkAction validates service:action, with IAM's messages.
func checkAction(a string) error {
	if a == "*" {
		return nil
	}
	vendor, name, ok := strings.Cut(a, ":")
	if !ok || name == "" {
		return malformed(msgNoVendor)
	}
	if strings.Contains(name, ":") {
		return malformed(msgOneColon)
	}
	if !validVendor(vendor) {
		return malformed(msgVendorInvalid, vendor)
	}
	return nil
}

// CheckKeyPolicySize returns a *LimitError when doc exceeds the key policy
// quota, which AWS reports as LimitExceededException.
func CheckKeyPolicySize(doc string) error {
	if len(doc) > MaxKeyPolicySize {
		return &LimitError{Size: len(doc), Limit: MaxKeyPolicySize}
	}
	return nil
}

// ParseKeyPolicy parses a KMS key policy: the size quota (a *LimitError),
// the characters a key policy may hold (in the document and in what its
// JSON escapes decode to), then Parse, then the key policy rules: every
// statement names a principal; every condition key is one kmsd knows and
// one AWS KMS permits in a key policy (aws:ResourceTag and
// kms:ResourceAliases are for IAM policies only); and ForAllValues is
// refused on the single-valued keys kms:EncryptionContext:* and
// aws:RequestTag/* (KMS's OverlyPermissiveCondition). As AWS does, a
// statement without Action or Resource is accepted and has no effect.
func ParseKeyPolicy(doc string) (*Policy, error) {
	if err := CheckKeyPolicySize(doc); err != nil {
		return nil, err
	}
	if err := checkKeyPolicyText(doc); err != nil {
		return nil, err
	}
	root, err := readDocument(doc)
	if err != nil {
		return nil, err
	}
	if err := root.walkStrings(checkKeyPolicyText); err != nil {
		return nil, err
	}
	p, err := parseRoot(root)
	if err != nil {
		return nil, err
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		if !st.hasPrincipal {
			return nil, malformed("Policy contains a statement with no principal.")
		}
		for j := range st.conds {
			if err := checkKeyPolicyCondition(&st.conds[j]); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// checkKeyPolicyCondition applies the key policy rules to one condition.
func checkKeyPolicyCondition(c *condition) error {
	scope, known := lookupConditionKey(c.key)
	switch {
	case !known:
		return malformed(msgUnknownConditionKey, c.name)
	case scope == scopeIAM:
		return malformed(MsgKeyPolicyConditionKeys)
	case c.set != setAll:
		return nil
	case strings.HasPrefix(c.key, "kms:encryptioncontext:"):
		return malformed(msgOverlyPermissiveEC)
	case strings.HasPrefix(c.key, "aws:requesttag/"):
		return malformed(msgOverlyPermissiveTag)
	}
	return nil
}

// ParseIdentityPolicy parses a policy attached to a user, group or role:
// no principal, and every statement needs actions and resources.
func ParseIdentityPolicy(doc string) (*Policy, error) {
	p, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		switch {
		case st.hasPrincipal:
			return nil, malformed(msgNoPrincipalWanted)
		case !st.hasAction || len(st.actions) == 0:
			return nil, malformed(msgMustHaveActions)
		case !st.hasResource || len(st.resources) == 0:
			return nil, malformed(msgMustHaveResources)
		}
	}
	return p, nil
}

// ParseTrustPolicy parses a role's trust policy: every statement names a
// principal and actions, and none has a resource (the role is the
// resource).
func ParseTrustPolicy(doc string) (*Policy, error) {
	p, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		switch {
		case !st.hasPrincipal:
			return nil, malformed(msgMissingPrincipal)
		case st.hasResource:
			return nil, malformed(msgProhibitedRes)
		case !st.hasAction || len(st.actions) == 0:
			return nil, malformed(msgMustHaveActions)
		}
		// The role the policy is attached to is the only resource.
		st.hasResource, st.resources = true, []pattern{{kind: pAll}}
	}
	return p, nil
}
