package policy

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

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

// BindingKey is the key under which a user or role ARN a policy names is
// matched against callers (CallerKey): a user's ARN itself, and for a role
// the prefix its sessions' ARNs share (a session ARN drops the role's
// path). Resource and trust policies keep, beside each such ARN, the unique
// id of the principal it named when the policy was set.
func BindingKey(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		if name, ok := strings.CutPrefix(parts[5], "role/"); ok {
			return "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + name[strings.LastIndexByte(name, '/')+1:] + "/"
		}
	}
	return arn
}

// CallerKey returns the BindingKey a caller is found under and the unique
// id a binding must hold for the caller to be the principal it names: a
// user's own, or for a role session (principal id ROLEID:SESSION) its
// role's. It does not allocate.
func CallerKey(callerARN, principalID string) (key, id string) {
	if strings.Contains(callerARN, ":assumed-role/") {
		id, _, _ = strings.Cut(principalID, ":")
		return callerARN[:strings.LastIndexByte(callerARN, '/')+1], id
	}
	return callerARN, principalID
}

// ReplaceAWSPrincipals rewrites the AWS principals of a policy document
// (Statement → Principal or NotPrincipal → AWS) that repl maps, keeping
// every other byte of the document. IAM and KMS show a policy this way
// once a user or role it named is deleted: the unique id the policy holds
// in place of the ARN.
func ReplaceAWSPrincipals(doc string, repl map[string]string) (string, error) {
	var (
		b     strings.Builder
		stack []jsonFrame
		done  int
	)
	dec := json.NewDecoder(strings.NewReader(doc))
	for {
		start := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, jsonFrame{object: t == '{', wantKey: t == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
		case string:
			if top != nil && top.wantKey {
				top.key, top.wantKey = t, false
				continue
			}
			if id, ok := repl[t]; ok && atAWSPrincipal(stack) {
				end := int(dec.InputOffset())
				q := start + strings.IndexByte(doc[start:end], '"')
				b.WriteString(doc[done:q])
				b.WriteString(`"` + id + `"`)
				done = end
			}
		}
		// A value ended: the object around it expects its next key.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
	b.WriteString(doc[done:])
	return b.String(), nil
}

// jsonFrame is an object or array being read: an object's wantKey says
// whether its next string is a key, and key is the key being read.
type jsonFrame struct {
	object, wantKey bool
	key             string
}

// atAWSPrincipal reports whether the keys of the objects on stack are
// Statement, Principal or NotPrincipal, and AWS.
func atAWSPrincipal(stack []jsonFrame) bool {
	var keys [3]string
	n := 0
	for _, f := range stack {
		if !f.object {
			continue
		}
		if n == len(keys) {
			return false
		}
		keys[n] = f.key
		n++
	}
	return n == 3 && keys[0] == "Statement" && (keys[1] == "Principal" || keys[1] == "NotPrincipal") && keys[2] == "AWS"
}
