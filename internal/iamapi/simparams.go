package iamapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// has reports whether the request names a parameter, or a member of a
// list or structure parameter of that name.
func (p *params) has(name string) bool {
	for k := range p.v {
		if k == name || strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

// strList reads a list parameter, Name.member.1, Name.member.2…, each member
// min to max characters long. A list sent empty ("Name=") is present.
func (p *params) strList(name string, required bool, min, max int) []string {
	var out []string
	for i := 1; ; i++ {
		vals, ok := p.v[name+".member."+strconv.Itoa(i)]
		if !ok || len(vals) == 0 {
			break
		}
		v := vals[0]
		if len(v) < min || len(v) > max {
			p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s.%d.member' failed to satisfy constraint: Member must have length between %d and %d", echo(v), member(name), i, min, max))
		}
		out = append(out, v)
	}
	if out == nil && required && !p.has(name) {
		p.errs = append(p.errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member(name)))
	}
	return out
}

// contextEntries reads ContextEntries.member.N.{ContextKeyName,
// ContextKeyValues.member.M, ContextKeyType}.
func (p *params) contextEntries() []ContextEntry {
	var out []ContextEntry
	for i := 1; ; i++ {
		prefix := "ContextEntries.member." + strconv.Itoa(i) + "."
		if !p.has(strings.TrimSuffix(prefix, ".")) {
			break
		}
		e := ContextEntry{
			ContextKeyName:   p.v.Get(prefix + "ContextKeyName"),
			ContextKeyValues: p.strList(prefix+"ContextKeyValues", false, 0, 1<<20),
			ContextKeyType:   p.v.Get(prefix + "ContextKeyType"),
		}
		at := fmt.Sprintf("contextEntries.%d.member", i)
		if n := len(e.ContextKeyName); n < 5 || n > 256 {
			p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s.contextKeyName' failed to satisfy constraint: Member must have length between 5 and 256", echo(e.ContextKeyName), at))
		}
		if e.ContextKeyType != "" && !slices.Contains(contextKeyTypes, e.ContextKeyType) {
			p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [%s]", echo(e.ContextKeyType), at, strings.Join(contextKeyTypes, ", ")))
		}
		out = append(out, e)
	}
	return out
}
