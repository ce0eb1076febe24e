package kmsapi

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// strRule holds the constraints of a string or enum shape; -1 means no limit.
type strRule struct {
	min, max int
	re       *regexp.Regexp // whole-value match of pattern
	pattern  string         // the model's pattern text, as AWS quotes it
	enum     []string
	enumText string // "[A, B]" in AWS's order
	redact   bool   // never echo the value
}

// numRule holds the constraints of an integer shape.
type numRule struct {
	min, max       int64
	hasMin, hasMax bool
}

// lenRule holds the length constraints of a blob, list or map; -1 means none.
type lenRule struct{ min, max int }

// validator collects violations in the order AWS reports them.
type validator struct{ errs []string }

func (v *validator) err() error {
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return &kmserr.Error{Code: kmserr.Validation, Message: "1 validation error detected: " + v.errs[0]}
	}
	return &kmserr.Error{Code: kmserr.Validation, Message: strconv.Itoa(len(v.errs)) +
		" validation errors detected: " + strings.Join(v.errs, "; ")}
}

// at is the path of member name under path p ("" at the top level).
func at(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

// item is the path of the i-th (0-based) element of the list at p.
func item(p string, i int) string { return p + "." + strconv.Itoa(i+1) + ".member" }

func (v *validator) null(path string) {
	v.errs = append(v.errs, "Value null at '"+path+"' failed to satisfy constraint: Member must not be null")
}

func (v *validator) fail(value string, redact bool, path, constraint string) {
	if redact {
		v.errs = append(v.errs, "Value at '"+path+"' failed to satisfy constraint: "+constraint)
		return
	}
	v.errs = append(v.errs, "Value '"+value+"' at '"+path+"' failed to satisfy constraint: "+constraint)
}

func maxLen(n int) string { return "Member must have length less than or equal to " + strconv.Itoa(n) }
func minLen(n int) string {
	return "Member must have length greater than or equal to " + strconv.Itoa(n)
}

// lengths returns the length constraints n violates.
func lengths(n, min, max int) []string {
	var out []string
	if max >= 0 && n > max {
		out = append(out, maxLen(max))
	}
	if min > 0 && n < min {
		out = append(out, minLen(min))
	}
	return out
}

// violations returns the constraints s violates: length (in code points),
// pattern, enum.
func (r *strRule) violations(s string) []string {
	out := lengths(utf8.RuneCountInString(s), r.min, r.max)
	if r.re != nil && !r.re.MatchString(s) {
		out = append(out, "Member must satisfy regular expression pattern: "+r.pattern)
	}
	if r.enum != nil && !contains(r.enum, s) {
		out = append(out, "Member must satisfy enum value set: "+r.enumText)
	}
	return out
}

// describe lists every constraint of the rule, as AWS does for list members.
func (r *strRule) describe() string {
	var c []string
	if r.max >= 0 {
		c = append(c, maxLen(r.max))
	}
	if r.min > 0 {
		c = append(c, minLen(r.min))
	}
	if r.re != nil {
		c = append(c, "Member must satisfy regular expression pattern: "+r.pattern)
	}
	if r.enum != nil {
		c = append(c, "Member must satisfy enum value set: "+r.enumText)
	}
	return strings.Join(c, ", ")
}

func contains(set []string, s string) bool {
	for _, e := range set {
		if e == s {
			return true
		}
	}
	return false
}

func (v *validator) str(path, s string, r *strRule) {
	for _, c := range r.violations(s) {
		v.fail(s, r.redact, path, c)
	}
}

func (v *validator) blob(path string, b []byte, r *lenRule) {
	for _, c := range lengths(len(b), r.min, r.max) {
		v.fail("", true, path, c)
	}
}

// count checks the number of elements of a list or map; text is the value as
// AWS prints it, or "" to leave it out.
func (v *validator) count(path, text string, n int, r *lenRule) {
	for _, c := range lengths(n, r.min, r.max) {
		v.fail(text, text == "", path, c)
	}
}

func (v *validator) num(path string, n int64, r *numRule) {
	if r.hasMax && n > r.max {
		v.fail(strconv.FormatInt(n, 10), false, path, "Member must have value less than or equal to "+strconv.FormatInt(r.max, 10))
	}
	if r.hasMin && n < r.min {
		v.fail(strconv.FormatInt(n, 10), false, path, "Member must have value greater than or equal to "+strconv.FormatInt(r.min, 10))
	}
}

// strList checks the elements of a list of strings. Like AWS it reports one
// violation for the whole list, naming every constraint of the element shape.
func strList[T ~string](v *validator, path string, l []T, r *strRule) {
	for _, e := range l {
		if len(r.violations(string(e))) > 0 {
			v.fail(listText(l), r.redact, path, "Member must satisfy constraint: ["+r.describe()+"]")
			return
		}
	}
}

// listText prints a list of strings the way AWS (Java) does: [a, b].
func listText[T ~string](l []T) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(e))
	}
	b.WriteByte(']')
	return b.String()
}

// mapBytes checks the total size in bytes of a map's keys and values. The
// value is never echoed: it is what is too large.
func (v *validator) mapBytes(path string, m map[string]string, max int) {
	n := 0
	for k, val := range m {
		n += len(k) + len(val)
	}
	if n > max {
		v.fail("", true, path, "Member must have a total size of keys and values less than or equal to "+strconv.Itoa(max)+" bytes")
	}
}
