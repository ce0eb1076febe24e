package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ---- JSON encoders ----

// genJSON renders AppendJSON for every output and every structure reachable
// from one: the bytes encoding/json.Marshal writes for the value, without
// reflection. The struct tags genShapes writes and the code here both follow
// jsonOpt, and a property test holds the two encoders to the same bytes.
func genJSON(m *model, b *bytes.Buffer) error {
	reach := m.reachable(func(op operation) string { return op.output })

	b.WriteString("import (\n\t\"encoding/base64\"\n\t\"slices\"\n\t\"strconv\"\n\t\"time\"\n\n\t\"github.com/kmsd/kmsd/internal/jsonstr\"\n)\n\n")
	const doc = "// AppendJSON appends the JSON encoding of v to b, byte for byte what\n// encoding/json.Marshal writes for it.\n"
	for _, op := range m.ops {
		if op.output == "" {
			fmt.Fprintf(b, "%sfunc (v *%sOutput) AppendJSON(b []byte) []byte {\n", doc, op.name)
			b.WriteString("\tif v == nil {\n\t\treturn append(b, \"null\"...)\n\t}\n\treturn append(b, \"{}\"...)\n}\n\n")
		}
	}
	for _, s := range m.structs() {
		if !reach[s.name] {
			continue
		}
		fmt.Fprintf(b, "%sfunc (v *%s) AppendJSON(b []byte) []byte {\n", doc, m.nameOf(s.name))
		b.WriteString("\tif v == nil {\n\t\treturn append(b, \"null\"...)\n\t}\n")
		if len(s.members) == 0 {
			b.WriteString("\treturn append(b, \"{}\"...)\n}\n\n")
			continue
		}
		// Every member starts with a comma; the first one written becomes
		// the opening brace.
		b.WriteString("\tstart := len(b)\n")
		g := &jsonGen{m: m, b: b}
		for _, mem := range s.members {
			if err := g.member(s, mem); err != nil {
				return fmt.Errorf("%s.%s: %w", s.name, mem.name, err)
			}
		}
		b.WriteString("\tif len(b) == start {\n\t\treturn append(b, \"{}\"...)\n\t}\n\tb[start] = '{'\n\treturn append(b, '}')\n}\n\n")
	}
	b.WriteString(jsonHelpers)
	return nil
}

// jsonGen writes the statements that append values to b.
type jsonGen struct {
	m     *model
	b     *bytes.Buffer
	depth int // nesting of list loops, naming their indexes
}

// member writes one member: its key and value, under the condition that
// its tag's omitempty or omitzero leaves it in.
func (g *jsonGen) member(s *shape, mem member) error {
	t := g.m.shapes[mem.shape]
	x := "v." + mem.name
	key, err := json.Marshal(mem.name) // escaped as encoding/json escapes names
	if err != nil {
		return err
	}
	ptr := t.typ == "integer" || t.typ == "long" || t.typ == "boolean" || t.typ == "timestamp" || t.typ == "structure"
	var cond string
	switch opt := g.m.jsonOpt(s, mem); {
	case opt == "":
	case t.typ == "string":
		cond = x + ` != ""`
	case ptr:
		cond = x + " != nil"
	case opt == ",omitempty": // blob, list, map
		cond = "len(" + x + ") > 0"
	case opt == ",omitzero":
		cond = x + " != nil"
	default:
		return fmt.Errorf("unsupported tag option %q", opt)
	}
	if cond != "" {
		fmt.Fprintf(g.b, "\tif %s {\n", cond)
	}
	fmt.Fprintf(g.b, "\tb = append(b, %s...)\n", goString(","+string(key)+":"))
	// A pointer always sent (no tag does that today) is null when nil.
	nilCheck := cond == "" && ptr && t.typ != "structure"
	if nilCheck {
		fmt.Fprintf(g.b, "\tif %s == nil {\n\t\tb = append(b, \"null\"...)\n\t} else {\n", x)
	}
	if err := g.value(x, t, false, cond != "" || nilCheck); err != nil {
		return err
	}
	if nilCheck {
		g.b.WriteString("\t}\n")
	}
	if cond != "" {
		g.b.WriteString("\t}\n")
	}
	return nil
}

// value writes the statements appending x, of the Go type goType gives
// the shape (elem: as a list element, so never a pointer). nonNil: x is
// known not to be nil.
func (g *jsonGen) value(x string, t *shape, elem, nonNil bool) error {
	deref := x
	if !elem {
		deref = "*" + x
	}
	w := func(format string, args ...any) { fmt.Fprintf(g.b, format, args...) }
	switch t.typ {
	case "string":
		if len(t.enum) > 0 {
			x = "string(" + x + ")"
		}
		w("\tb = appendJSONString(b, %s)\n", x)
	case "blob":
		w("\tb = appendJSONBytes(b, %s)\n", x)
	case "integer", "long":
		w("\tb = strconv.AppendInt(b, int64(%s), 10)\n", deref)
	case "boolean":
		w("\tb = strconv.AppendBool(b, %s)\n", deref)
	case "timestamp":
		w("\tb = appendJSONTime(b, %s)\n", deref)
	case "structure":
		w("\tb = %s.AppendJSON(b)\n", x)
	case "map":
		w("\tb = appendJSONMap(b, %s)\n", x)
	case "list":
		e := g.m.shapes[t.elem]
		if e.typ == "string" {
			w("\tb = appendJSONStrings(b, %s)\n", x)
			return nil
		}
		if !nonNil {
			w("\tif %s == nil {\n\t\tb = append(b, \"null\"...)\n\t} else {\n", x)
			defer w("\t}\n")
		}
		i := fmt.Sprintf("i%d", g.depth)
		g.depth++
		defer func() { g.depth-- }()
		w("\tb = append(b, '[')\n\tfor %s := range %s {\n\t\tif %[1]s > 0 {\n\t\t\tb = append(b, ',')\n\t\t}\n", i, x)
		if err := g.value(x+"["+i+"]", e, true, false); err != nil {
			return err
		}
		w("\t}\n\tb = append(b, ']')\n")
	default:
		return fmt.Errorf("unsupported type %s", t.typ)
	}
	return nil
}

// jsonHelpers append the values every AppendJSON shares. Each follows the
// encoder of encoding/json it stands in for; see there for why.
const jsonHelpers = `// appendJSONString appends s as encoding/json writes a string: <, > and &
// escaped for HTML, U+2028 and U+2029 escaped, invalid UTF-8 replaced by
// U+FFFD.
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s) }

// appendJSONBytes appends p in standard base64, null if p is nil.
func appendJSONBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// appendJSONTime appends what Timestamp.MarshalJSON returns, without
// allocating.
func appendJSONTime(b []byte, t Timestamp) []byte {
	ms := time.Time(t).Round(time.Millisecond).UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100))
		if frac %= 100; frac != 0 {
			b = append(b, byte('0'+frac/10))
			if frac %= 10; frac != 0 {
				b = append(b, byte('0'+frac))
			}
		}
	}
	return b
}

// appendJSONStrings appends a list of strings, null if l is nil.
func appendJSONStrings[S ~string](b []byte, l []S) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, string(s))
	}
	return append(b, ']')
}

// appendJSONMap appends a map with its keys sorted, as encoding/json sorts
// them; null if m is nil.
func appendJSONMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var small [16]string // most maps fit: sorting them allocates nothing
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}
`
