package audit

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// An audit record is written for every request, before the service has
// validated anything, so its views of the request and response must stay
// small whatever the caller sent: otherwise a caller with no permission
// at all fills the disk, or a record over MaxRecordSize fails the
// request. CloudTrail caps an event at 256 KB and truncates an oversized
// field, marking it with "omitted": true; kmsd does the same, keeping
// each view well inside that cap. The bounds leave every legal KMS request
// whole: a 32 KB key policy with a description and 50 tags is under them.
const (
	// ViewBudget bounds one view, counted as its JSON encoding.
	ViewBudget = 160 << 10
	// maxViewString bounds one string, in encoded bytes: a key policy (32 KB,
	// the largest legal string) fits with its quotes escaped.
	maxViewString = 64 << 10
	// maxViewEntries bounds the entries kept of one map or list.
	maxViewEntries = 1024
	// keptPrefix is how much of a cut string is kept, in bytes.
	keptPrefix = 256
	// MaxErrorMessage bounds an error message, which may echo values.
	MaxErrorMessage = 8 << 10
	// truncatedKey marks a cut map with the number of entries left out.
	truncatedKey = "[truncated]"
)

// BoundView returns an audit view that fits the bounds: v itself when it
// does (the usual case, at no allocation), else a copy in which long
// strings are cut to a prefix noted with their length and SHA-256, maps and
// lists are cut with the number of entries left out, and "omitted": true
// marks the view as CloudTrail marks a truncated field. Small members are
// kept first, so that a huge member never crowds out the key ID.
func BoundView(v map[string]any) map[string]any {
	if v == nil || fits(v) {
		return v
	}
	names := slices.Collect(maps.Keys(v))
	cost := make(map[string]int, len(names))
	for _, n := range names {
		cost[n] = costOf(v[n])
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(cost[a], cost[b]), cmp.Compare(a, b))
	})
	b := &bounder{budget: ViewBudget}
	out := make(map[string]any, len(v)+1)
	for _, n := range names {
		out[b.key(n)] = b.value(v[n])
	}
	out["omitted"] = true
	return out
}

// fits reports whether v is within the bounds, without allocating. A
// first pass charges every byte as if escaped (six bytes), which settles
// the usual small view without reading its strings.
func fits(v map[string]any) bool {
	return fitsWith(v, worstCost) || fitsWith(v, stringCost)
}

// worstCost bounds the encoded size of s from its length alone.
func worstCost(s string) int { return 6*len(s) + 3 }

func fitsWith(v map[string]any, cost func(string) int) bool {
	budget := ViewBudget
	var walk func(any) bool
	walk = func(x any) bool {
		switch x := x.(type) {
		case string:
			c := cost(x)
			budget -= c
			return c <= maxViewString && budget >= 0
		case map[string]any:
			if len(x) > maxViewEntries {
				return false
			}
			for k, e := range x {
				c := cost(k)
				budget -= c
				if c > maxViewString || !walk(e) {
					return false
				}
			}
		case []any:
			if len(x) > maxViewEntries {
				return false
			}
			for _, e := range x {
				if !walk(e) {
					return false
				}
			}
		default:
			budget -= scalarCost
		}
		return budget >= 0
	}
	return walk(v)
}

// scalarCost is what a number, boolean or null costs, with its separator.
const scalarCost = 24

// stringCost is an upper bound on the encoded size of s as the audit log
// writes it (HTML-safe encoding/json): its bytes, its quotes and a
// separator, and what escaping adds.
func stringCost(s string) int {
	n := len(s) + 3
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"', c == '\\', c == '\n', c == '\r', c == '\t':
			n++ // \" \\ \n \r \t
		case c < 0x20, c == '<', c == '>', c == '&':
			n += 5 // \u00XX
		case c == 0xe2:
			n += 3 // U+2028 and U+2029 (e2 80 a8/a9) become \u2028, \u2029
		}
	}
	return n
}

// costOf is the encoded size bound of a whole value.
func costOf(x any) int {
	switch x := x.(type) {
	case string:
		return stringCost(x)
	case map[string]any:
		n := 2
		for k, e := range x {
			n += stringCost(k) + costOf(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range x {
			n += costOf(e)
		}
		return n
	}
	return scalarCost
}

// bounder copies a view within its remaining budget.
type bounder struct{ budget int }

func (b *bounder) value(x any) any {
	switch x := x.(type) {
	case string:
		return b.str(x)
	case map[string]any:
		return b.mapOf(x)
	case []any:
		return b.list(x)
	}
	b.budget -= scalarCost
	return x
}

func (b *bounder) key(k string) string { return b.str(k) }

// str keeps s whole when it fits, else a prefix of what is left of the
// budget (at most keptPrefix bytes) with s's length and digest.
func (b *bounder) str(s string) string {
	c := stringCost(s)
	if c <= maxViewString && c <= b.budget {
		b.budget -= c
		return s
	}
	keep := min(keptPrefix, max(b.budget, 0), len(s))
	for keep > 0 && keep < len(s) && !utf8.RuneStart(s[keep]) {
		keep--
	}
	sum := sha256.Sum256([]byte(s))
	out := s[:keep] + "...[truncated: " + strconv.Itoa(len(s)) + " bytes, sha256 " + hex.EncodeToString(sum[:]) + "]"
	b.budget -= stringCost(out)
	return out
}

// mapOf keeps entries in key order while the budget and the entry bound
// allow, and notes how many it left out under truncatedKey.
func (b *bounder) mapOf(m map[string]any) map[string]any {
	keys := slices.Sorted(maps.Keys(m))
	out := make(map[string]any, min(len(keys), maxViewEntries)+1)
	b.budget -= 2
	kept := 0
	for _, k := range keys {
		if kept == maxViewEntries || b.budget <= 0 {
			break
		}
		out[b.key(k)] = b.value(m[k])
		kept++
	}
	if left := len(keys) - kept; left > 0 {
		note := strconv.Itoa(left) + " more entries"
		b.budget -= stringCost(truncatedKey) + stringCost(note)
		out[truncatedKey] = note
	}
	return out
}

func (b *bounder) list(l []any) []any {
	out := make([]any, 0, min(len(l), maxViewEntries)+1)
	b.budget -= 2
	for _, e := range l {
		if len(out) == maxViewEntries || b.budget <= 0 {
			break
		}
		out = append(out, b.value(e))
	}
	if left := len(l) - len(out); left > 0 {
		note := "[truncated: " + strconv.Itoa(left) + " more entries]"
		b.budget -= stringCost(note)
		out = append(out, note)
	}
	return out
}

// BoundMessage cuts an error message that would make a record (and the
// answer) huge: validation messages quote the values they refuse. ok is
// false when msg is within MaxErrorMessage and was returned unchanged.
func BoundMessage(msg string) (_ string, ok bool) {
	if len(msg) <= MaxErrorMessage {
		return msg, false
	}
	keep := MaxErrorMessage
	for keep > 0 && !utf8.RuneStart(msg[keep]) {
		keep--
	}
	return msg[:keep] + "...[truncated: " + strconv.Itoa(len(msg)) + " bytes]", true
}
