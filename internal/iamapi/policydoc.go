package iamapi

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// position is a place in a policy document as SimulatePrincipalPolicy
// reports it: 1-based line and column, columns counted in characters.
type position struct {
	Line   int `xml:"Line"`
	Column int `xml:"Column"`
}

// docStatement is what a simulation reads from one statement's text:
// where it stands, the actions it names, and its condition keys.
type docStatement struct {
	start, end position // the opening brace, and just past the closing one
	actions    []string // Action, or NotAction when notAction
	notAction  bool
	keys       []string // condition keys, as written
	// principals are the AWS principals of Principal, or "*"; none for a
	// statement without one (identity policies) or with NotPrincipal.
	principals []string
	anyone     bool // no Principal element, or a NotPrincipal
}

// readStatements returns the statements of a stored, valid policy
// document in order, so that the policy engine's statement index finds
// its text. A document that cannot be read yields none: the simulation
// then reports the statement without a position.
func readStatements(doc string) []docStatement {
	spans := statementSpans(doc)
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil
	}
	var list []json.RawMessage
	if len(raw.Statement) > 0 && raw.Statement[0] == '{' {
		list = []json.RawMessage{raw.Statement}
	} else if err := json.Unmarshal(raw.Statement, &list); err != nil {
		return nil
	}
	if len(list) != len(spans) {
		return nil
	}
	out := make([]docStatement, len(list))
	for i, st := range list {
		var s struct {
			Action       json.RawMessage
			NotAction    json.RawMessage
			Principal    json.RawMessage
			NotPrincipal json.RawMessage
			Condition    map[string]map[string]json.RawMessage
		}
		_ = json.Unmarshal(st, &s) // a statement of a valid policy reads
		ds := docStatement{start: position(spans[i][0]), end: position(spans[i][1])}
		ds.principals, ds.anyone = awsPrincipals(s.Principal), len(s.Principal) == 0 || len(s.NotPrincipal) > 0
		if len(s.NotAction) > 0 {
			ds.actions, ds.notAction = stringOrList(s.NotAction), true
		} else {
			ds.actions = stringOrList(s.Action)
		}
		for _, block := range s.Condition {
			for k := range block {
				ds.keys = append(ds.keys, k)
			}
		}
		out[i] = ds
	}
	return out
}

// awsPrincipals reads a Principal element: "*", or the AWS members of
// {"AWS": …}.
func awsPrincipals(m json.RawMessage) []string {
	var star string
	if json.Unmarshal(m, &star) == nil {
		return []string{star}
	}
	var p struct{ AWS json.RawMessage }
	if json.Unmarshal(m, &p) != nil || len(p.AWS) == 0 {
		return nil
	}
	return stringOrList(p.AWS)
}

// names reports whether the statement's Principal may name a caller known
// by any of names (its ARN, its role's ARN, its account's root and id).
func (s *docStatement) names(names []string) bool {
	if s.anyone {
		return true
	}
	return slices.ContainsFunc(s.principals, func(p string) bool { return p == "*" || slices.Contains(names, p) })
}

func stringOrList(m json.RawMessage) []string {
	var one string
	if json.Unmarshal(m, &one) == nil {
		return []string{one}
	}
	var list []string
	_ = json.Unmarshal(m, &list)
	return list
}

// appliesTo reports whether the statement names action, matching the
// wildcards * and ? without regard to case, as IAM matches actions.
func (s *docStatement) appliesTo(action string) bool {
	named := slices.ContainsFunc(s.actions, func(p string) bool { return globMatch(strings.ToLower(p), strings.ToLower(action)) })
	return named != s.notAction
}

// globMatch matches s against pattern, where * is any run and ? any one
// character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// statementSpans finds each statement of the document's Statement element
// (an array of objects, or one object) and returns its start and end
// positions.
func statementSpans(doc string) [][2]position {
	dec := json.NewDecoder(strings.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		if key != "Statement" {
			if skipValue(dec) != nil {
				return nil
			}
			continue
		}
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		switch t {
		case json.Delim('{'):
			if sp, ok := objectSpan(dec, doc); ok {
				return [][2]position{sp}
			}
		case json.Delim('['):
			var out [][2]position
			for dec.More() {
				t, err := dec.Token()
				if err != nil || t != json.Delim('{') {
					return nil
				}
				sp, ok := objectSpan(dec, doc)
				if !ok {
					return nil
				}
				out = append(out, sp)
			}
			return out
		}
		return nil
	}
	return nil
}

// objectSpan reads the rest of an object whose '{' the decoder just
// returned, and returns where it starts and ends.
func objectSpan(dec *json.Decoder, doc string) ([2]position, bool) {
	start := dec.InputOffset() - 1
	if err := skipRest(dec, 1); err != nil {
		return [2]position{}, false
	}
	return [2]position{positionAt(doc, int(start)), positionAt(doc, int(dec.InputOffset()))}, true
}

// skipValue reads one whole value.
func skipValue(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); ok && (d == '{' || d == '[') {
		return skipRest(dec, 1)
	}
	return nil
}

// skipRest reads tokens until depth open objects or arrays are closed.
func skipRest(dec *json.Decoder, depth int) error {
	for depth > 0 {
		t, err := dec.Token()
		if err == io.EOF {
			return errors.New("unexpected end of document")
		}
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// positionAt converts a byte offset of doc to a line and column.
func positionAt(doc string, off int) position {
	off = min(max(off, 0), len(doc))
	before := doc[:off]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return position{Line: strings.Count(before, "\n") + 1, Column: utf8.RuneCountInString(before[lineStart:]) + 1}
}
