package policy

import "fmt"

// Outcome is what one policy says about a request.
type Outcome uint8

const (
	// NotApplicable: no statement applies, an implicit deny.
	NotApplicable Outcome = iota
	Allowed
	Denied // an explicit Deny
)

func (o Outcome) String() string {
	return [...]string{"not applicable", "allowed", "denied"}[o]
}

// Result is one policy's answer and the statement that gave it.
type Result struct {
	Outcome Outcome
	// Statement is the index of the deciding statement, -1 when
	// NotApplicable. A Deny decides at once; among Allows the statement
	// with the strongest Match decides, the first of equals.
	Statement int
	Sid       string
	// Match says how the deciding statement's Principal covered the caller.
	Match Match
}

func (r Result) String() string {
	if r.Outcome == NotApplicable {
		return r.Outcome.String()
	}
	s := fmt.Sprintf("%s by statement %d", r.Outcome, r.Statement)
	if r.Sid != "" {
		s += fmt.Sprintf(" (%q)", r.Sid)
	}
	if r.Match != MatchNone {
		s += " matching the caller by " + r.Match.String()
	}
	return s
}

// Evaluate applies the policy to a request. A nil Policy is NotApplicable.
// It does not allocate unless the policy uses variables or formats the
// request time as text.
func (p *Policy) Evaluate(r *Request) Result {
	res := Result{Statement: -1}
	if p == nil {
		return res
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		m, ok := st.applies(r)
		if !ok {
			continue
		}
		if st.effect == effectDeny {
			return Result{Outcome: Denied, Statement: i, Sid: st.sid, Match: m}
		}
		if res.Outcome != Allowed || m > res.Match {
			res = Result{Outcome: Allowed, Statement: i, Sid: st.sid, Match: m}
		}
	}
	return res
}

// applies reports whether every element of the statement matches: the
// principal first, since key policy statements mostly differ by whom they
// name, then the action, the resource and the conditions.
func (st *statement) applies(r *Request) (Match, bool) {
	if !st.hasAction || !st.hasResource {
		return MatchNone, false
	}
	m := MatchNone
	if st.hasPrincipal {
		if st.notPrincipal {
			if excludes(st.principals, r) {
				return MatchNone, false
			}
			m = MatchWildcard
		} else {
			var ok bool
			if m, ok = bestMatch(st.principals, r); !ok {
				return MatchNone, false
			}
		}
	}
	if matchAny(st.actions, r.Action, r) == st.notAction {
		return MatchNone, false
	}
	if matchAny(st.resources, r.Resource, r) == st.notResource {
		return MatchNone, false
	}
	for i := range st.conds {
		if !st.conds[i].eval(r) {
			return MatchNone, false
		}
	}
	return m, true
}

func matchAny(ps []pattern, s string, r *Request) bool {
	for i := range ps {
		if ps[i].match(s, r) {
			return true
		}
	}
	return false
}
