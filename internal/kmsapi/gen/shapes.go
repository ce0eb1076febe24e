package main

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// ---- shapes ----

func genShapes(m *model, b *bytes.Buffer) error {
	names := make([]string, len(m.ops))
	for i, op := range m.ops {
		names[i] = op.name
	}
	fmt.Fprintf(b, "// Operations lists the names of the %d operations of the AWS KMS API, sorted.\n", len(names))
	b.WriteString("var Operations = []string{\n")
	for _, n := range names {
		fmt.Fprintf(b, "\t%q,\n", n)
	}
	b.WriteString("}\n\n")

	b.WriteString("// Input is implemented by the input of every operation.\n")
	b.WriteString("type Input interface {\n\tValidate() error\n\tRequestParameters() map[string]any\n}\n\n")
	b.WriteString("// Output is implemented by the output of every operation.\n")
	b.WriteString("type Output interface {\n\tResponseElements() map[string]any\n\t// AppendJSON appends the response body, byte for byte as encoding/json\n\t// would marshal it.\n\tAppendJSON(b []byte) []byte\n}\n\n")
	b.WriteString("// NewInput returns a new, empty input of the named operation, or nil if\n// there is no such operation.\nfunc NewInput(operation string) Input {\n\tswitch operation {\n")
	for _, n := range names {
		fmt.Fprintf(b, "\tcase %q:\n\t\treturn new(%sInput)\n", n, n)
	}
	b.WriteString("\t}\n\treturn nil\n}\n\n")
	b.WriteString("// NewOutput returns a new, empty output of the named operation, or nil if\n// there is no such operation.\nfunc NewOutput(operation string) Output {\n\tswitch operation {\n")
	for _, n := range names {
		fmt.Fprintf(b, "\tcase %q:\n\t\treturn new(%sOutput)\n", n, n)
	}
	b.WriteString("\t}\n\treturn nil\n}\n\n")

	for _, op := range m.ops {
		for _, a := range [][2]string{{op.input, op.name + "Input"}, {op.output, op.name + "Output"}} {
			if a[0] != "" && m.nameOf(a[0]) != a[1] {
				fmt.Fprintf(b, "// %s is the response of %s, shared with %s.\ntype %[1]s = %[3]s\n\n", a[1], op.name, m.nameOf(a[0]))
			}
		}
		if op.input == "" {
			fmt.Fprintf(b, "// %sInput is the (empty) request of %s.\ntype %[1]sInput struct{}\n\n", op.name, op.name)
		}
		if op.output == "" {
			fmt.Fprintf(b, "// %sOutput is the (empty) response of %s.\ntype %[1]sOutput struct{}\n\n", op.name, op.name)
		}
	}
	ops := map[string]string{}
	for _, op := range m.ops {
		if _, ok := ops[op.input]; !ok {
			ops[op.input] = "request of " + op.name
		}
		if _, ok := ops[op.output]; !ok {
			ops[op.output] = "response of " + op.name
		}
	}
	for _, s := range m.structs() {
		name := m.nameOf(s.name)
		if what, ok := ops[s.name]; ok {
			fmt.Fprintf(b, "// %s is the %s.\n", name, what)
		} else {
			fmt.Fprintf(b, "// %s is the %s structure of the AWS KMS API.\n", name, s.name)
		}
		fmt.Fprintf(b, "type %s struct {\n", name)
		for _, mem := range s.members {
			t := m.goType(mem.shape, false)
			opt := m.jsonOpt(s, mem)
			var notes []string
			if s.required[mem.name] {
				notes = append(notes, "required")
			}
			if m.shapes[mem.shape].sensitive {
				notes = append(notes, "sensitive")
			}
			comment := ""
			if len(notes) > 0 {
				comment = " // " + strings.Join(notes, ", ")
			}
			fmt.Fprintf(b, "\t%s %s `json:\"%s%s\"`%s\n", mem.name, t, mem.name, opt, comment)
		}
		b.WriteString("}\n\n")
	}

	for _, s := range m.enums() {
		consts := make([]string, len(s.enum))
		seen := map[string]bool{}
		for i, v := range s.enum {
			c := s.name + enumIdent(v)
			if seen[c] {
				return fmt.Errorf("enum %s: duplicate constant %s", s.name, c)
			}
			seen[c] = true
			consts[i] = c
		}
		fmt.Fprintf(b, "// %s is an enumeration of the AWS KMS API.\ntype %[1]s string\n\n", s.name)
		fmt.Fprintf(b, "// Values of %s.\nconst (\n", s.name)
		for i, v := range s.enum {
			fmt.Fprintf(b, "\t%s %s = %q\n", consts[i], s.name, v)
		}
		b.WriteString(")\n\n")
		fmt.Fprintf(b, "// Values returns the values of %s in model order.\n", s.name)
		fmt.Fprintf(b, "func (%s) Values() []%[1]s {\n\treturn []%[1]s{%s}\n}\n\n", s.name, strings.Join(consts, ", "))
	}
	return nil
}

// initialisms stay upper case in enum constant names.
var initialisms = map[string]bool{
	"AES": true, "AWS": true, "DSA": true, "ECC": true, "ECDH": true, "ECDSA": true,
	"HMAC": true, "KEM": true, "KMS": true, "MAC": true, "ML": true, "MU": true,
	"NIST": true, "OAEP": true, "PKCS": true, "PSS": true, "RSA": true, "RSAES": true,
	"RSASSA": true, "SECG": true, "SHA": true, "SHAKE": true, "SM": true, "PKE": true,
	"TLS": true, "VPC": true, "XKS": true, "PH": true,
}

// enumIdent turns an enum value into a Go identifier suffix:
// RSA_2048 → RSA2048, SYMMETRIC_DEFAULT → SymmetricDefault, PendingDeletion
// stays as is, ECC_NIST_EDWARDS25519 → ECCNISTEdwards25519.
func enumIdent(v string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' }) {
		if strings.ToUpper(part) != part {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
			continue
		}
		// Upper-case word, maybe with digits: split into letter/digit runs.
		for run := range runs(part) {
			switch {
			case unicode.IsDigit(rune(run[0])), len(run) == 1, initialisms[run]:
				b.WriteString(run)
			default:
				b.WriteString(run[:1] + strings.ToLower(run[1:]))
			}
		}
	}
	return b.String()
}

// runs yields the maximal runs of letters and of digits in s.
func runs(s string) func(func(string) bool) {
	return func(yield func(string) bool) {
		start := 0
		for i := 1; i <= len(s); i++ {
			if i == len(s) || unicode.IsDigit(rune(s[i])) != unicode.IsDigit(rune(s[i-1])) {
				if !yield(s[start:i]) {
					return
				}
				start = i
			}
		}
	}
}
