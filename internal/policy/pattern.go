package policy

import (
	"math/bits"
	"strings"
	"unicode/utf8"
)

// A pattern is a policy string compiled once at parse time: an action, a
// resource, or a condition value, with its wildcards and policy variables.
// Matching runs a bit-parallel automaton over the subject's byte positions,
// so it needs no regexp, no backtracking (no pathological patterns) and no
// allocation for subjects under 512 bytes.

type unitKind uint8

const (
	uLit  unitKind = iota // literal text
	uStar                 // *: any run of characters
	uOne                  // ?: one character
	uVar                  // ${key} or ${key, 'default'}
)

type unit struct {
	kind   unitKind
	span   bool // uStar/uOne: may match ':'
	hasDef bool // uVar has a default
	b      builtin
	s      string // uLit text; uVar lower-cased key
	def    string // uVar default
}

type patKind uint8

const (
	pAll     patKind = iota // "*"
	pExact                  // no wildcard, no variable
	pPrefix                 // literal then a final *
	pSuffix                 // * then literal
	pGeneral                // anything else, variables included
)

type pattern struct {
	kind  patKind
	fold  bool // ASCII case-insensitive (action names)
	vars  bool
	lit   string
	units []unit
}

// globMode says how wildcards behave where the pattern is used.
type globMode uint8

const (
	// modeString: * and ? match any character (StringLike, Action).
	modeString globMode = iota
	// modeResource: a * that ends an ARN segment (last, or before ':') may
	// cross colons; other wildcards stay within their segment, as the IAM
	// guide describes for Resource.
	modeResource
	// modeARN: wildcards stay within their field in the first five
	// colon-separated fields and match freely in the resource part, so
	// each field is compared separately (ArnLike). A lone "*" matches
	// anything.
	modeARN
	// modeLiteral: * and ? are plain characters (StringEquals); only
	// variables expand.
	modeLiteral
)

// compilePattern compiles s. With vars, ${…} policy variables are
// recognised (Version 2012-10-17); otherwise they are literal text.
func compilePattern(s string, mode globMode, vars, fold bool) pattern {
	var units []unit
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			units = append(units, unit{kind: uLit, s: lit.String()})
			lit.Reset()
		}
	}
	hasVars := false
	closeAt := -1 // index of the next '}', len(s) when there is none
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$' && vars && i+1 < len(s) && s[i+1] == '{':
			// Remember where the next '}' is, so that a string of many
			// "${" stays linear to compile.
			if closeAt < i+2 {
				closeAt = len(s)
				if end := strings.IndexByte(s[i+2:], '}'); end >= 0 {
					closeAt = i + 2 + end
				}
			}
			if closeAt == len(s) {
				lit.WriteByte(c)
				continue
			}
			if u, special, ok := parseVariable(s[i+2 : closeAt]); ok {
				if special != 0 {
					lit.WriteByte(special)
				} else {
					flush()
					units = append(units, u)
					hasVars = true
				}
				i = closeAt
				continue
			}
			lit.WriteByte(c)
		case c == '*' && mode != modeLiteral:
			flush()
			units = append(units, unit{kind: uStar, span: true})
		case c == '?' && mode != modeLiteral:
			flush()
			units = append(units, unit{kind: uOne, span: true})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	setSpans(units, mode)

	if fold {
		// Folded patterns hold lower-case text, so most comparisons
		// succeed on their first test.
		for i := range units {
			if units[i].kind == uLit {
				units[i].s = strings.ToLower(units[i].s)
			}
		}
	}
	p := pattern{kind: pGeneral, fold: fold, vars: hasVars, units: units}
	if hasVars {
		return p
	}
	switch {
	case len(units) == 0:
		p.kind, p.lit = pExact, ""
	case len(units) == 1 && units[0].kind == uLit:
		p.kind, p.lit = pExact, units[0].s
	case len(units) == 1 && units[0].kind == uStar && units[0].span:
		p.kind = pAll
	case len(units) == 2 && units[0].kind == uLit && units[1].kind == uStar && units[1].span:
		p.kind, p.lit = pPrefix, units[0].s
	case len(units) == 2 && units[0].kind == uStar && units[0].span && units[1].kind == uLit:
		p.kind, p.lit = pSuffix, units[1].s
	}
	if p.kind != pGeneral {
		p.units = nil
	}
	return p
}

// parseVariable reads the inside of ${…}: a key, a key with a quoted
// default, or one of the escapes ${*}, ${?} and ${$}.
func parseVariable(inner string) (u unit, special byte, ok bool) {
	switch inner {
	case "*", "?", "$":
		return unit{}, inner[0], true
	}
	key, def, hasDef := strings.Cut(inner, ",")
	key = strings.TrimSpace(key)
	if key == "" || strings.ContainsAny(key, " \t${") {
		return unit{}, 0, false
	}
	u = unit{kind: uVar, s: strings.ToLower(key)}
	u.b = builtinFor(u.s)
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return unit{}, 0, false
		}
		u.hasDef, u.def = true, def[1:len(def)-1]
	}
	return u, 0, true
}

func setSpans(units []unit, mode globMode) {
	switch mode {
	case modeResource:
		for i := range units {
			switch units[i].kind {
			case uStar:
				last := i == len(units)-1
				units[i].span = last || (units[i+1].kind == uLit && units[i+1].s[0] == ':')
			case uOne:
				units[i].span = false
			}
		}
	case modeARN:
		if len(units) == 1 {
			return // a lone "*" matches any value
		}
		colons := 0
		for i := range units {
			switch units[i].kind {
			case uLit:
				colons += strings.Count(units[i].s, ":")
			case uStar, uOne:
				units[i].span = colons >= 5
			}
		}
	}
}

// match reports whether s matches the pattern, resolving variables from r.
func (p *pattern) match(s string, r *Request) bool {
	switch p.kind {
	case pAll:
		return true
	case pExact:
		if p.fold {
			return strings.EqualFold(s, p.lit) // Unicode-aware for IgnoreCase
		}
		return s == p.lit
	case pPrefix:
		return len(s) >= len(p.lit) && equal(s[:len(p.lit)], p.lit, p.fold)
	case pSuffix:
		return len(s) >= len(p.lit) && equal(s[len(s)-len(p.lit):], p.lit, p.fold)
	}
	units := p.units
	if p.vars {
		var buf [16]unit
		res := buf[:0]
		for _, u := range units {
			if u.kind != uVar {
				res = append(res, u)
				continue
			}
			v, ok := resolve(&u, r)
			if !ok {
				// An unresolved variable matches nothing: the value
				// drops out of its condition.
				return false
			}
			res = append(res, unit{kind: uLit, s: v})
		}
		units = res
	}
	return glob(units, s, p.fold)
}

// resolve returns the text a variable stands for: the key's single value,
// else the default. Multi-valued keys cannot be variables.
func resolve(u *unit, r *Request) (string, bool) {
	if v, ok := r.lookup(u.s, u.b); ok && v.len() == 1 {
		return v.at(0), true
	}
	return u.def, u.hasDef
}

// equal compares subject text s with pattern text p, with fold ignoring
// ASCII case. Static pattern text is stored lower-case, so the common
// comparisons succeed on the first test.
func equal(s, p string, fold bool) bool {
	if !fold {
		return s == p
	}
	if len(s) != len(p) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c, d := s[i], p[i]; c != d && lower(c) != lower(d) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// glob matches s against units, tracking the set of positions in s that
// the units so far can reach.
func glob(units []unit, s string, fold bool) bool {
	wild := false
	for _, u := range units {
		if u.kind != uLit {
			wild = true
			break
		}
	}
	if !wild {
		pos := 0
		for _, u := range units {
			if len(s)-pos < len(u.s) || !equal(s[pos:pos+len(u.s)], u.s, fold) {
				return false
			}
			pos += len(u.s)
		}
		return pos == len(s)
	}

	if !fold && onlyStars(units) {
		return starGlob(units, s)
	}

	n := len(s)
	words := n/64 + 1
	var bufA, bufB [8]uint64
	var cur, next []uint64
	if words <= len(bufA) {
		cur, next = bufA[:words], bufB[:words]
	} else {
		cur, next = make([]uint64, words), make([]uint64, words)
	}
	cur[0] = 1
	for _, u := range units {
		clear(next)
		switch u.kind {
		case uLit:
			l := len(u.s)
			for w, word := range cur {
				for word != 0 {
					p := w*64 + bits.TrailingZeros64(word)
					word &= word - 1
					if p+l <= n && equal(s[p:p+l], u.s, fold) {
						next[(p+l)/64] |= 1 << uint((p+l)%64)
					}
				}
			}
		case uOne:
			for w, word := range cur {
				for word != 0 {
					p := w*64 + bits.TrailingZeros64(word)
					word &= word - 1
					if p >= n || (!u.span && s[p] == ':') {
						continue
					}
					size := 1
					if s[p] >= utf8.RuneSelf {
						_, size = utf8.DecodeRuneInString(s[p:])
					}
					next[(p+size)/64] |= 1 << uint((p+size)%64)
				}
			}
		case uStar:
			if u.span {
				first := -1
				for w, word := range cur {
					if word != 0 {
						first = w*64 + bits.TrailingZeros64(word)
						break
					}
				}
				if first < 0 {
					return false
				}
				for p := first; p <= n; p++ {
					next[p/64] |= 1 << uint(p%64)
				}
			} else {
				reach := false
				for p := 0; p <= n; p++ {
					if reach && s[p-1] == ':' {
						reach = false
					}
					if cur[p/64]&(1<<uint(p%64)) != 0 {
						reach = true
					}
					if reach {
						next[p/64] |= 1 << uint(p%64)
					}
				}
			}
		}
		cur, next = next, cur
		empty := true
		for _, word := range cur {
			if word != 0 {
				empty = false
				break
			}
		}
		if empty {
			return false
		}
	}
	return cur[n/64]&(1<<uint(n%64)) != 0
}

// onlyStars reports whether every wildcard is a * free to match anything.
func onlyStars(units []unit) bool {
	for _, u := range units {
		if u.kind == uOne || (u.kind == uStar && !u.span) {
			return false
		}
	}
	return true
}

// starGlob matches patterns whose only wildcard is an unrestricted *:
// the literal runs must appear in order, the first anchored at the start
// unless a * precedes it and the last at the end unless a * follows it.
// Taking each middle run at its leftmost place is then always right, so
// this is a few strings.Index calls instead of the automaton.
func starGlob(units []unit, s string) bool {
	// Leading literal.
	i := 0
	for ; i < len(units) && units[i].kind == uLit; i++ {
		if !strings.HasPrefix(s, units[i].s) {
			return false
		}
		s = s[len(units[i].s):]
	}
	if i == len(units) {
		return s == ""
	}
	// Trailing literal.
	j := len(units)
	for ; j > i && units[j-1].kind == uLit; j-- {
		if !strings.HasSuffix(s, units[j-1].s) {
			return false
		}
		s = s[:len(s)-len(units[j-1].s)]
	}
	// Middle: units[i] and units[j-1] are stars.
	for k := i; k < j; k++ {
		if units[k].kind != uLit {
			continue
		}
		at := strings.Index(s, units[k].s)
		if at < 0 {
			return false
		}
		s = s[at+len(units[k].s):]
	}
	return true
}
