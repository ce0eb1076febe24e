package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// seedLines finds the line of a setting in the seed file, so that an
// error found after decoding (a key kmsd refuses, a PEM that does not
// parse) names the line as well as the setting.
type seedLines struct {
	file string
	root *yaml.Node
}

func newSeedLines(file string, data []byte) seedLines {
	var doc yaml.Node
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil || len(doc.Content) == 0 {
		return seedLines{file: file}
	}
	return seedLines{file: file, root: doc.Content[0]}
}

// errorf returns err prefixed with the file, the line of the setting at
// path and the path: strings are settings, ints list indexes, and a
// string such as "replicas[0].region" is split into its parts.
func (l seedLines) errorf(err error, path ...any) error {
	var parts []any
	for _, p := range path {
		if s, ok := p.(string); ok {
			parts = append(parts, splitPath(s)...)
		} else {
			parts = append(parts, p)
		}
	}
	return fmt.Errorf("seed %s line %d: %s: %w", l.file, l.line(parts), pathString(parts), err)
}

// line returns the line of the deepest node of path that exists.
func (l seedLines) line(path []any) int {
	n := l.root
	if n == nil {
		return 0
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line, next = n.Content[i].Line, n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// splitPath splits "replicas[0].region" into "replicas", 0, "region".
func splitPath(s string) []any {
	var out []any
	for _, part := range strings.Split(s, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(idx); err == nil {
				out = append(out, i)
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}

func pathString(parts []any) string {
	var b strings.Builder
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}
