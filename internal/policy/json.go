package policy

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The document is read into a small ordered tree rather than with
// json.Unmarshal: element names must match exactly (Unmarshal folds case),
// duplicate names must be refused (Unmarshal keeps the last silently), and
// values may be a string, a list or an object depending on the element.

type jkind uint8

const (
	jString jkind = iota
	jNumber
	jBool
	jNull
	jObject
	jArray
)

func (k jkind) String() string {
	return [...]string{"a string", "a number", "a boolean", "null", "an object", "an array"}[k]
}

type jvalue struct {
	kind   jkind
	s      string // text of a string, number or boolean
	fields []jfield
	items  []*jvalue
}

type jfield struct {
	name string
	val  *jvalue
}

// maxDepth bounds nesting; a valid policy needs four levels.
const maxDepth = 32

var errJSON = errors.New("not valid JSON")

func readJSON(doc string) (*jvalue, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errJSON
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (*jvalue, error) {
	if depth > maxDepth {
		return nil, errJSON
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, errJSON
	}
	switch t := tok.(type) {
	case string:
		return &jvalue{kind: jString, s: t}, nil
	case json.Number:
		return &jvalue{kind: jNumber, s: t.String()}, nil
	case bool:
		if t {
			return &jvalue{kind: jBool, s: "true"}, nil
		}
		return &jvalue{kind: jBool, s: "false"}, nil
	case nil:
		return &jvalue{kind: jNull}, nil
	case json.Delim:
		switch t {
		case '{':
			v := &jvalue{kind: jObject}
			var names map[string]bool // for large objects; small ones scan
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, errJSON
				}
				name, ok := kt.(string)
				if !ok {
					return nil, errJSON
				}
				dup := false
				if names != nil {
					dup = names[name]
				} else {
					dup = v.get(name) != nil
					if len(v.fields) == 16 {
						names = make(map[string]bool)
						for _, f := range v.fields {
							names[f.name] = true
						}
					}
				}
				if dup {
					return nil, malformed("Policy document contains the element %q more than once in one object.", name)
				}
				if names != nil {
					names[name] = true
				}
				fv, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.fields = append(v.fields, jfield{name, fv})
			}
			if _, err := dec.Token(); err != nil {
				return nil, errJSON
			}
			return v, nil
		case '[':
			v := &jvalue{kind: jArray}
			for dec.More() {
				iv, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, iv)
			}
			if _, err := dec.Token(); err != nil {
				return nil, errJSON
			}
			return v, nil
		}
	}
	return nil, errJSON
}

// get returns the named field of an object, or nil.
func (v *jvalue) get(name string) *jvalue {
	for _, f := range v.fields {
		if f.name == name {
			return f.val
		}
	}
	return nil
}

// strings returns a string or an array of strings as a list; ok is false
// for any other shape.
func (v *jvalue) strings() (out []string, ok bool) {
	switch v.kind {
	case jString:
		return []string{v.s}, true
	case jArray:
		out = make([]string, 0, len(v.items))
		for _, it := range v.items {
			if it.kind != jString {
				return nil, false
			}
			out = append(out, it.s)
		}
		return out, true
	}
	return nil, false
}

// scalars is like strings but also takes booleans and numbers, which
// condition values may be ("Bool": {"aws:SecureTransport": false}).
func (v *jvalue) scalars() (out []string, ok bool) {
	switch v.kind {
	case jString, jNumber, jBool:
		return []string{v.s}, true
	case jArray:
		out = make([]string, 0, len(v.items))
		for _, it := range v.items {
			switch it.kind {
			case jString, jNumber, jBool:
				out = append(out, it.s)
			default:
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// walkStrings calls fn with every string in v: member names and values.
func (v *jvalue) walkStrings(fn func(string) error) error {
	switch v.kind {
	case jString:
		return fn(v.s)
	case jObject:
		for _, f := range v.fields {
			if err := fn(f.name); err != nil {
				return err
			}
			if err := f.val.walkStrings(fn); err != nil {
				return err
			}
		}
	case jArray:
		for _, it := range v.items {
			if err := it.walkStrings(fn); err != nil {
				return err
			}
		}
	}
	return nil
}
