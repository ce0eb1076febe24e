package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ---- validation ----

// rules tracks the rule variables the validation code refers to.
type rules struct {
	m    *model
	used map[string]bool
}

func (r *rules) ref(shape string) string {
	r.used[shape] = true
	return "rule" + shape
}

// hasChecks reports whether a value of the shape can fail validation.
func (m *model) hasChecks(name string, seen map[string]bool) bool {
	s := m.shapes[name]
	switch s.typ {
	case "structure":
		if seen[name] {
			return false
		}
		seen[name] = true
		defer delete(seen, name)
		for _, mem := range s.members {
			if s.required[mem.name] || m.hasChecks(mem.shape, seen) {
				return true
			}
		}
		return false
	case "list":
		return s.min != nil || s.max != nil || m.hasChecks(s.elem, seen)
	case "map":
		return s.min != nil || s.max != nil || mapByteLimits[name] > 0
	default:
		return s.constrained()
	}
}

// mapByteLimits bounds the total size in bytes of the keys and values of a
// map shape, which the AWS model leaves unbounded. AWS KMS binds the
// encryption context into the AAD it hands an external key store proxy,
// and the XKS proxy API requires proxies to take AAD of up to 8192 bytes:
// the largest context KMS accepts fits in that. Without a bound, one
// request could carry a context as large as the body limit into policy
// evaluation, grant matching and the audit record.
var mapByteLimits = map[string]int{"EncryptionContextType": 8192}

// reachable returns the structures reachable from the shape root names
// in each operation ("" for none).
func (m *model) reachable(root func(operation) string) map[string]bool {
	reach := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		s := m.shapes[n]
		switch s.typ {
		case "structure":
			if reach[n] {
				return
			}
			reach[n] = true
			for _, mem := range s.members {
				walk(mem.shape)
			}
		case "list":
			walk(s.elem)
		}
	}
	for _, op := range m.ops {
		if r := root(op); r != "" {
			walk(r)
		}
	}
	return reach
}

func genValidate(m *model, b *bytes.Buffer) error {
	r := &rules{m: m, used: map[string]bool{}}
	var body bytes.Buffer

	// Emit validate for inputs and for every structure reachable from them.
	reach := m.reachable(func(op operation) string { return op.input })
	for _, op := range m.ops {
		name := op.name + "Input"
		if op.input != "" && m.nameOf(op.input) != name {
			continue
		}
		fmt.Fprintf(&body, "// Validate checks the request against the constraints of the model and\n")
		fmt.Fprintf(&body, "// returns a ValidationException listing every violation, or nil.\n")
		fmt.Fprintf(&body, "func (in *%s) Validate() error {\n", name)
		if op.input == "" || !m.hasChecks(op.input, map[string]bool{}) {
			body.WriteString("\treturn nil\n}\n\n")
			continue
		}
		body.WriteString("\tif in == nil {\n\t\tin = &" + name + "{}\n\t}\n")
		body.WriteString("\tvar v validator\n\tin.validate(&v, \"\")\n\treturn v.err()\n}\n\n")
	}
	for _, s := range m.structs() {
		if !reach[s.name] || !m.hasChecks(s.name, map[string]bool{}) {
			continue
		}
		fmt.Fprintf(&body, "func (s *%s) validate(v *validator, p string) {\n", m.nameOf(s.name))
		for _, mem := range s.members {
			if err := genMemberCheck(&body, r, s, mem); err != nil {
				return err
			}
		}
		body.WriteString("}\n\n")
	}

	// Rule variables, sorted by shape name.
	var names []string
	for n := range r.used {
		names = append(names, n)
	}
	slices.Sort(names)
	b.WriteString("import \"regexp\"\n\n")
	b.WriteString("// Constraints of the model's shapes; patterns are compiled once.\nvar (\n")
	for _, n := range names {
		s := m.shapes[n]
		fmt.Fprintf(b, "\trule%s = %s\n", n, ruleLiteral(s))
	}
	b.WriteString(")\n\n")
	b.Write(body.Bytes())
	return nil
}

// ruleLiteral renders the rule value of a constrained shape.
func ruleLiteral(s *shape) string {
	lim := func(p *int64) string {
		if p == nil {
			return "-1"
		}
		return strconv.FormatInt(*p, 10)
	}
	switch s.typ {
	case "string":
		f := []string{"min: " + lim(s.min), "max: " + lim(s.max)}
		if s.pattern != "" {
			f = append(f, "re: regexp.MustCompile("+goString(s.re)+")", "pattern: "+goString(s.pattern))
		}
		if len(s.enum) > 0 {
			q := make([]string, len(s.enum))
			for i, v := range s.enum {
				q[i] = strconv.Quote(v)
			}
			f = append(f, "enum: []string{"+strings.Join(q, ", ")+"}", "enumText: "+strconv.Quote("["+strings.Join(s.order, ", ")+"]"))
		}
		if s.sensitive || redactedShapes[s.name] {
			f = append(f, "redact: true")
		}
		return "&strRule{" + strings.Join(f, ", ") + "}"
	case "integer", "long":
		f := []string{}
		if s.min != nil {
			f = append(f, "min: "+lim(s.min), "hasMin: true")
		}
		if s.max != nil {
			f = append(f, "max: "+lim(s.max), "hasMax: true")
		}
		return "&numRule{" + strings.Join(f, ", ") + "}"
	default: // blob, list, map
		return "&lenRule{min: " + lim(s.min) + ", max: " + lim(s.max) + "}"
	}
}

// redactedShapes are never echoed in validation messages or audit views,
// though the model does not mark them sensitive: grant tokens are bearer
// credentials.
var redactedShapes = map[string]bool{"GrantTokenType": true, "GrantTokenList": true}

func goString(s string) string {
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

func lowerFirst(s string) string {
	return strings.ToLower(s[:1]) + s[1:]
}

func genMemberCheck(b *bytes.Buffer, r *rules, s *shape, mem member) error {
	m := r.m
	t := m.shapes[mem.shape]
	req := s.required[mem.name]
	if !req && !m.hasChecks(mem.shape, map[string]bool{}) {
		return nil
	}
	f := "s." + mem.name
	path := fmt.Sprintf("at(p, %q)", lowerFirst(mem.name))
	var absent, present, check string
	switch t.typ {
	case "string":
		absent, present = f+` == ""`, f+` != ""`
		if t.constrained() {
			val := f
			if len(t.enum) > 0 {
				val = "string(" + f + ")"
			}
			check = fmt.Sprintf("v.str(%s, %s, %s)", path, val, r.ref(t.name))
		}
	case "blob":
		absent, present = f+" == nil", f+" != nil"
		if t.min != nil || t.max != nil {
			check = fmt.Sprintf("v.blob(%s, %s, %s)", path, f, r.ref(t.name))
		}
	case "integer", "long":
		absent, present = f+" == nil", f+" != nil"
		if t.constrained() {
			check = fmt.Sprintf("v.num(%s, int64(*%s), %s)", path, f, r.ref(t.name))
		}
	case "boolean", "timestamp":
		absent, present = f+" == nil", f+" != nil"
	case "structure":
		absent, present = f+" == nil", f+" != nil"
		if m.hasChecks(t.name, map[string]bool{}) {
			check = fmt.Sprintf("%s.validate(v, %s)", f, path)
		}
	case "map":
		absent, present = f+" == nil", f+" != nil"
		var lines []string
		if t.min != nil || t.max != nil {
			lines = append(lines, fmt.Sprintf("v.count(%s, %q, len(%s), %s)", path, "", f, r.ref(t.name)))
		}
		if n := mapByteLimits[t.name]; n > 0 {
			lines = append(lines, fmt.Sprintf("v.mapBytes(%s, %s, %d)", path, f, n))
		}
		check = strings.Join(lines, "\n")
	case "list":
		absent, present = f+" == nil", f+" != nil"
		var lines []string
		e := m.shapes[t.elem]
		if t.min != nil || t.max != nil {
			text := `""`
			if e.typ == "string" && !e.sensitive && !redactedShapes[t.name] && !redactedShapes[e.name] {
				text = "listText(" + f + ")"
			}
			lines = append(lines, fmt.Sprintf("v.count(%s, %s, len(%s), %s)", path, text, f, r.ref(t.name)))
		}
		switch {
		case e.typ == "structure" && m.hasChecks(e.name, map[string]bool{}):
			lines = append(lines, fmt.Sprintf("for i := range %s {\n%s[i].validate(v, item(%s, i))\n}", f, f, path))
		case e.typ == "string" && e.constrained():
			lines = append(lines, fmt.Sprintf("strList(v, %s, %s, %s)", path, f, r.ref(e.name)))
		case e.constrained() || (e.typ != "string" && e.typ != "structure" && m.hasChecks(e.name, map[string]bool{})):
			return fmt.Errorf("%s.%s: constraints on list elements of type %s are not supported", s.name, mem.name, e.typ)
		}
		check = strings.Join(lines, "\n")
	default:
		return fmt.Errorf("%s.%s: unsupported type %s", s.name, mem.name, t.typ)
	}
	if req && t.mayBeEmpty() {
		// Always present: check the value, even "".
		if check != "" {
			fmt.Fprintf(b, "\t%s\n", check)
		}
		return nil
	}
	switch {
	case req && check != "":
		fmt.Fprintf(b, "\tif %s {\n\t\tv.null(%s)\n\t} else {\n%s\n\t}\n", absent, path, check)
	case req:
		fmt.Fprintf(b, "\tif %s {\n\t\tv.null(%s)\n\t}\n", absent, path)
	case check != "":
		fmt.Fprintf(b, "\tif %s {\n%s\n\t}\n", present, check)
	}
	return nil
}
