package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeYAMLFile reads a YAML file (the --config file, the --seed file)
// into out, a pointer to a struct. Unknown settings are refused, so a typo
// does not silently fall back to a default, and every error names the file,
// the line and the setting as the file spells them, never a Go type.
func decodeYAMLFile(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return decodeYAML(path, b, out)
}

// decodeYAML decodes data, the content of the file called name, into out.
func decodeYAML(name string, data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s line %d: a second YAML document (after ---); put every setting in one", name, next.Line)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return yamlWalker{file: name}.value(doc.Content[0], reflect.ValueOf(out).Elem(), "")
}

// yamlWalker decodes a node tree field by field, so that an error knows
// the line and the path of the setting it is about.
type yamlWalker struct{ file string }

// yamlExpecter describes, for an error message, what a setting of a type
// with its own YAML form accepts.
type yamlExpecter interface{ yamlExpect() string }

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (w yamlWalker) value(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		return w.leaf(n, v, path)
	}
	switch {
	case v.Kind() == reflect.Struct && n.Kind == yaml.ScalarNode && v.Addr().Type().Implements(scalarSetterType):
		return v.Addr().Interface().(scalarSetter).setScalar(n.Value) // seal: pkcs11
	case v.Kind() == reflect.Struct:
		return w.object(n, v, path)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			return w.errorf(n, path, "want a list, not %s", shown(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := w.value(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	return w.leaf(n, v, path)
}

func (w yamlWalker) object(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return w.errorf(n, path, "want settings (name: value), not %s", shown(n))
	}
	fields := yamlFields(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			return w.errorf(k, "", "unknown setting %q%s", joinPath(path, k.Value), suggest(k.Value, fields))
		}
		if err := w.value(val, v.Field(idx), joinPath(path, k.Value)); err != nil {
			return err
		}
	}
	return nil
}

func (w yamlWalker) leaf(n *yaml.Node, v reflect.Value, path string) error {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return w.errorf(n, path, "%v", err)
	}
	return w.errorf(n, path, "want %s, not %s", expect(v), shown(n))
}

func (w yamlWalker) errorf(n *yaml.Node, path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s line %d: %s", w.file, n.Line, msg)
}

// yamlFields maps the YAML names of a struct's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

// expect says what a value of v's type looks like in YAML.
func expect(v reflect.Value) string {
	if e, ok := v.Addr().Interface().(yamlExpecter); ok {
		return e.yamlExpect()
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 30s, 5m or 1h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a single value"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list such as [a, b]"
	case t.Kind() == reflect.Map:
		return "a map of names to values such as {team: payments}"
	}
	return "another kind of value"
}

// shown quotes a node for an error: a scalar's text, or what kind of node
// it is.
func shown(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	return "that"
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// suggest names the closest known setting to a misspelt one, or lists them
// all when none is close.
func suggest(name string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	best, dist := "", 3
	for _, f := range names {
		if d := editDistance(name, f); d < dist {
			best, dist = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (known settings: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
