package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// ---- audit views ----

// hidden reports whether a member never appears in an audit view.
func (m *model) hidden(mem member) bool {
	t := m.shapes[mem.shape]
	if mem.name == "GrantTokens" || mem.name == "GrantToken" || redactedShapes[t.name] || t.typ == "blob" || t.sensitive {
		return true
	}
	if t.typ == "list" {
		e := m.shapes[t.elem]
		return e.typ == "blob" || e.sensitive || redactedShapes[e.name]
	}
	if t.typ == "map" {
		return m.shapes[t.key].sensitive || m.shapes[t.val].sensitive
	}
	return false
}

func genAudit(m *model, b *bytes.Buffer) error {
	for _, op := range m.ops {
		if in := op.name + "Input"; op.input == "" || m.nameOf(op.input) == in {
			b.WriteString("// RequestParameters returns the request as CloudTrail records it: no\n// blobs, secrets or grant tokens. It is nil when nothing is left to record.\n")
			if op.input == "" {
				fmt.Fprintf(b, "func (in *%s) RequestParameters() map[string]any { return nil }\n\n", in)
			} else {
				fmt.Fprintf(b, "func (in *%s) RequestParameters() map[string]any {\n\tif in == nil {\n\t\treturn nil\n\t}\n\treturn nilIfEmpty(in.audit())\n}\n\n", in)
			}
		}
		if out := op.name + "Output"; op.output == "" || m.nameOf(op.output) == out {
			b.WriteString("// ResponseElements returns the response as CloudTrail records it: no\n// plaintext, ciphertext, key material or grant tokens. It is nil when\n// nothing is left to record.\n")
			if op.output == "" {
				fmt.Fprintf(b, "func (out *%s) ResponseElements() map[string]any { return nil }\n\n", out)
			} else {
				fmt.Fprintf(b, "func (out *%s) ResponseElements() map[string]any {\n\tif out == nil {\n\t\treturn nil\n\t}\n\treturn nilIfEmpty(out.audit())\n}\n\n", out)
			}
		}
	}
	for _, s := range m.structs() {
		fmt.Fprintf(b, "func (s *%s) audit() map[string]any {\n\tm := map[string]any{}\n", m.nameOf(s.name))
		for _, mem := range s.members {
			if m.hidden(mem) {
				continue
			}
			genAuditMember(b, m, mem, m.sent(s, mem))
		}
		b.WriteString("\treturn m\n}\n\n")
	}
	return nil
}

// genAuditMember renders one member of an audit view; sent: the member is
// recorded even when "".
func genAuditMember(b *bytes.Buffer, m *model, mem member, sent bool) {
	t := m.shapes[mem.shape]
	f := "s." + mem.name
	k := strconv.Quote(lowerFirst(mem.name))
	switch t.typ {
	case "string":
		v := f
		if len(t.enum) > 0 {
			v = "string(" + f + ")"
		}
		if sent {
			fmt.Fprintf(b, "\tm[%s] = %s\n", k, v) // always present, even ""
		} else {
			fmt.Fprintf(b, "\tif %s != \"\" {\n\t\tm[%s] = %s\n\t}\n", f, k, v)
		}
	case "integer", "long", "boolean":
		fmt.Fprintf(b, "\tif %s != nil {\n\t\tm[%s] = *%s\n\t}\n", f, k, f)
	case "timestamp":
		fmt.Fprintf(b, "\tif %s != nil {\n\t\tm[%s] = %s.rfc3339()\n\t}\n", f, k, f)
	case "structure":
		fmt.Fprintf(b, "\tif %s != nil {\n\t\tif sub := %s.audit(); len(sub) > 0 {\n\t\t\tm[%s] = sub\n\t\t}\n\t}\n", f, f, k)
	case "map":
		fmt.Fprintf(b, "\tif len(%s) > 0 {\n\t\tm[%s] = auditMap(%s)\n\t}\n", f, k, f)
	case "list":
		e := m.shapes[t.elem]
		switch e.typ {
		case "structure":
			fmt.Fprintf(b, "\tif len(%s) > 0 {\n\t\tl := make([]any, len(%s))\n\t\tfor i := range %s {\n\t\t\tl[i] = %s[i].audit()\n\t\t}\n\t\tm[%s] = l\n\t}\n", f, f, f, f, k)
		default:
			fmt.Fprintf(b, "\tif len(%s) > 0 {\n\t\tm[%s] = auditList(%s)\n\t}\n", f, k, f)
		}
	}
}
