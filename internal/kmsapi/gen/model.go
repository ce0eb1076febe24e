package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// ---- model ----

type model struct {
	shapes map[string]*shape
	ops    []operation       // sorted by name
	goName map[string]string // operation input/output shape → Go name
}

type operation struct{ name, input, output string }

type shape struct {
	name      string
	typ       string
	members   []member
	required  map[string]bool
	always    map[string]bool // response members AWS sends even when "" (alwaysSent)
	enum      []string
	order     []string // enum values in AWS's message order
	min, max  *int64
	pattern   string
	re        string // RE2 form of pattern, matching the whole value
	sensitive bool
	exception bool
	elem      string // list member shape
	key, val  string // map key and value shapes
}

type member struct{ name, shape string }

func load(modelPath, overlayPath string) (*model, error) {
	base, err := readJSON(modelPath)
	if err != nil {
		return nil, err
	}
	over, err := readJSON(overlayPath)
	if err != nil {
		return nil, err
	}
	merge(base, over)

	m := &model{shapes: map[string]*shape{}, goName: map[string]string{}}
	shapes := base.obj("shapes")
	for _, name := range shapes.keys {
		s, err := newShape(name, shapes.obj(name))
		if err != nil {
			return nil, fmt.Errorf("shape %s: %w", name, err)
		}
		m.shapes[name] = s
	}
	ops := base.obj("operations")
	for _, name := range ops.keys {
		o := ops.obj(name)
		op := operation{name: name}
		if in := o.obj("input"); in != nil {
			op.input = in.str("shape")
		}
		if out := o.obj("output"); out != nil {
			op.output = out.str("shape")
		}
		m.ops = append(m.ops, op)
	}
	slices.SortFunc(m.ops, func(a, b operation) int { return strings.Compare(a.name, b.name) })
	// A shape shared by several operations (ListGrantsResponse) is named for
	// the first; the others get an alias.
	for _, op := range m.ops {
		if _, ok := m.goName[op.input]; !ok && op.input != "" {
			m.goName[op.input] = op.name + "Input"
		}
		if _, ok := m.goName[op.output]; !ok && op.output != "" {
			m.goName[op.output] = op.name + "Output"
		}
	}
	return m, m.check()
}

func readJSON(path string) (*object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	o, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

func newShape(name string, o *object) (*shape, error) {
	s := &shape{name: name, typ: o.str("type"), required: map[string]bool{}, always: map[string]bool{}}
	s.sensitive, _ = o.vals["sensitive"].(bool)
	s.exception, _ = o.vals["exception"].(bool)
	s.enum = o.strs("enum")
	s.order = o.strs("validationOrder")
	if len(s.order) > 0 {
		a, b := slices.Sorted(slices.Values(s.order)), slices.Sorted(slices.Values(s.enum))
		if !slices.Equal(a, b) {
			return nil, errors.New("validationOrder is not a permutation of enum")
		}
	} else {
		s.order = s.enum
	}
	var err error
	if s.min, err = o.num("min"); err != nil {
		return nil, err
	}
	if s.max, err = o.num("max"); err != nil {
		return nil, err
	}
	if s.pattern = o.str("pattern"); s.pattern != "" {
		s.re = translatePattern(s.pattern)
		if _, err := regexp.Compile(s.re); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", s.pattern, err)
		}
	}
	for _, r := range o.strs("required") {
		s.required[r] = true
	}
	for _, r := range o.strs("alwaysSent") {
		s.always[r] = true
	}
	if ms := o.obj("members"); ms != nil {
		for _, k := range ms.keys {
			s.members = append(s.members, member{k, ms.obj(k).str("shape")})
		}
	}
	if e := o.obj("member"); e != nil {
		s.elem = e.str("shape")
	}
	if k := o.obj("key"); k != nil {
		s.key = k.str("shape")
	}
	if v := o.obj("value"); v != nil {
		s.val = v.str("shape")
	}
	return s, nil
}

// translatePattern turns a model (Java) regular expression into RE2 syntax
// anchored at both ends: Java's Matcher.matches tests the whole value.
func translatePattern(p string) string {
	var b strings.Builder
	class := false
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '[' && !class:
			class = true
		case p[i] == ']' && class:
			class = false
		}
		if p[i] == '\\' && i+1 < len(p) {
			if p[i+1] == 's' { // Java's \s also matches \v; RE2's does not.
				if class {
					b.WriteString(`\t\n\v\f\r `)
				} else {
					b.WriteString(`[\t\n\v\f\r ]`)
				}
				i++
				continue
			}
			if p[i+1] == 'u' && i+6 <= len(p) {
				b.WriteString(`\x{` + p[i+2:i+6] + `}`)
				i += 5
				continue
			}
			b.WriteString(p[i : i+2])
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return `^(?:` + b.String() + `)$`
}

// check rejects model features the generated code does not handle.
func (m *model) check() error {
	for _, s := range m.shapes {
		if s.exception {
			continue
		}
		for _, mem := range s.members {
			if m.shapes[mem.shape] == nil {
				return fmt.Errorf("%s.%s: unknown shape %s", s.name, mem.name, mem.shape)
			}
		}
		for name := range s.always {
			i := slices.IndexFunc(s.members, func(mem member) bool { return mem.name == name })
			if i < 0 || m.shapes[s.members[i].shape].typ != "string" || len(m.shapes[s.members[i].shape].enum) > 0 {
				return fmt.Errorf("%s: alwaysSent %s is not a string member", s.name, name)
			}
		}
		switch s.typ {
		case "string", "blob", "integer", "long", "boolean", "timestamp", "structure":
		case "list":
			if m.shapes[s.elem] == nil {
				return fmt.Errorf("list %s: unknown member shape %s", s.name, s.elem)
			}
		case "map":
			k, v := m.shapes[s.key], m.shapes[s.val]
			if k == nil || v == nil || k.typ != "string" || v.typ != "string" || len(k.enum)+len(v.enum) > 0 {
				return fmt.Errorf("map %s: only string-to-string maps are supported", s.name)
			}
			if k.constrained() || v.constrained() {
				return fmt.Errorf("map %s: constraints on map keys or values are not supported", s.name)
			}
		default:
			return fmt.Errorf("shape %s: unsupported type %s", s.name, s.typ)
		}
	}
	for _, op := range m.ops {
		if op.input != "" && m.shapes[op.input] == nil {
			return fmt.Errorf("operation %s: unknown input %s", op.name, op.input)
		}
		if op.output != "" && m.shapes[op.output] == nil {
			return fmt.Errorf("operation %s: unknown output %s", op.name, op.output)
		}
	}
	return nil
}

// sent reports whether a string member is on the wire even when its value
// is "": a required member whose shape admits "", or a response member AWS
// always returns (alwaysSent; AWS sends "" even where the shape's minimum
// length is 1, as GrantListEntry.Name of a grant without a name).
func (m *model) sent(s *shape, mem member) bool {
	return s.required[mem.name] && m.shapes[mem.shape].mayBeEmpty() || s.always[mem.name]
}

// jsonOpt is the encoding/json option of a member's tag, which AppendJSON
// follows too.
func (m *model) jsonOpt(s *shape, mem member) string {
	switch {
	case m.shapes[mem.shape].typ == "list" || m.shapes[mem.shape].typ == "map":
		return ",omitzero"
	case m.sent(s, mem):
		return "" // "" is a value here, not absence: always send it
	}
	return ",omitempty"
}

// mayBeEmpty reports whether "" is a valid value of a string shape; a Go
// string cannot tell such a value from an absent one.
func (s *shape) mayBeEmpty() bool {
	return s.typ == "string" && len(s.enum) == 0 && (s.min == nil || *s.min == 0)
}

func (s *shape) constrained() bool {
	return s.min != nil || s.max != nil || s.pattern != "" || len(s.enum) > 0
}

// nameOf is the Go name of a structure or enum shape.
func (m *model) nameOf(shape string) string {
	if n, ok := m.goName[shape]; ok {
		return n
	}
	return shape
}

// goType is the Go type of a member (elem=false) or list element (elem=true).
func (m *model) goType(name string, elem bool) string {
	s := m.shapes[name]
	ptr := "*"
	if elem {
		ptr = ""
	}
	switch s.typ {
	case "string":
		if len(s.enum) > 0 {
			return name
		}
		return "string"
	case "blob":
		return "[]byte"
	case "integer":
		return ptr + "int32"
	case "long":
		return ptr + "int64"
	case "boolean":
		return ptr + "bool"
	case "timestamp":
		return ptr + "Timestamp"
	case "list":
		return "[]" + m.goType(s.elem, true)
	case "map":
		return "map[string]string"
	default: // structure
		return ptr + m.nameOf(name)
	}
}

// structs lists the structures to emit: operation inputs and outputs in
// operation order, then the other non-exception structures by name.
func (m *model) structs() []*shape {
	var out []*shape
	seen := map[string]bool{}
	for _, op := range m.ops {
		for _, n := range []string{op.input, op.output} {
			if n != "" && !seen[n] {
				seen[n] = true
				out = append(out, m.shapes[n])
			}
		}
	}
	var rest []*shape
	for _, s := range m.shapes {
		if s.typ == "structure" && !s.exception && !seen[s.name] {
			rest = append(rest, s)
		}
	}
	slices.SortFunc(rest, func(a, b *shape) int { return strings.Compare(a.name, b.name) })
	return append(out, rest...)
}

func (m *model) enums() []*shape {
	var out []*shape
	for _, s := range m.shapes {
		if s.typ == "string" && len(s.enum) > 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *shape) int { return strings.Compare(a.name, b.name) })
	return out
}
