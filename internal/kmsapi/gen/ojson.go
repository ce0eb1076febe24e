package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ---- ordered JSON ----

// object is a JSON object that remembers the order of its keys, so generated
// structs and validation messages follow the model's member order.
type object struct {
	keys []string
	vals map[string]any
}

func parseJSON(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after JSON value")
	}
	o, ok := v.(*object)
	if !ok {
		return nil, errors.New("top level is not an object")
	}
	return o, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := &object{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[k]; !dup {
				o.keys = append(o.keys, k)
			}
			o.vals[k] = v
		}
		_, err := dec.Token()
		return o, err
	case '[':
		l := []any{}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err := dec.Token()
		return l, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// merge merges over into base: objects key by key, anything else replaces.
// New keys keep their overlay order after the base's keys.
func merge(base, over *object) {
	for _, k := range over.keys {
		if bo, ok := base.vals[k].(*object); ok {
			if oo, ok := over.vals[k].(*object); ok {
				merge(bo, oo)
				continue
			}
		}
		if _, ok := base.vals[k]; !ok {
			base.keys = append(base.keys, k)
		}
		base.vals[k] = over.vals[k]
	}
}

func (o *object) obj(k string) *object {
	v, _ := o.vals[k].(*object)
	return v
}

func (o *object) str(k string) string {
	v, _ := o.vals[k].(string)
	return v
}

func (o *object) strs(k string) []string {
	l, _ := o.vals[k].([]any)
	var out []string
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func (o *object) num(k string) (*int64, error) {
	v, ok := o.vals[k]
	if !ok {
		return nil, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("%s is not a number", k)
	}
	i, err := n.Int64()
	return &i, err
}
