package iamapi

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
)

// contextKeyTypes are AWS's ContextKeyType values.
var contextKeyTypes = []string{"string", "stringList", "numeric", "numericList", "boolean", "booleanList",
	"ip", "ipList", "binary", "binaryList", "date", "dateList"}

// requestContext is what a simulation's context entries say about the
// request: its encryption context, its other condition keys, its time.
type requestContext struct {
	ec    map[string]string   // kms:EncryptionContext:<key> entries
	conds map[string][]string // every other key, lower-cased
	at    time.Time           // aws:CurrentTime or aws:EpochTime, when given
}

const ecPrefix = "kms:encryptioncontext:"

// readContextEntries checks each entry's values against its type and
// sorts the entries into the request's parts.
func readContextEntries(entries []ContextEntry) (*requestContext, error) {
	rc := &requestContext{ec: map[string]string{}, conds: map[string][]string{}}
	for _, e := range entries {
		name := strings.ToLower(e.ContextKeyName)
		typ := e.ContextKeyType
		if !strings.HasSuffix(typ, "List") && typ != "" && len(e.ContextKeyValues) > 1 {
			return nil, invalidInput("Context key %s of type %s takes one value, not %d.", e.ContextKeyName, typ, len(e.ContextKeyValues))
		}
		for _, v := range e.ContextKeyValues {
			if !validContextValue(strings.TrimSuffix(typ, "List"), v) {
				return nil, invalidInput("Invalid value '%s' for context key %s of type %s.", echo(v), e.ContextKeyName, typ)
			}
		}
		if len(e.ContextKeyValues) == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(name, ecPrefix) && len(name) > len(ecPrefix):
			if len(e.ContextKeyValues) > 1 {
				return nil, invalidInput("Context key %s takes one value: an encryption context has one value per key.", e.ContextKeyName)
			}
			rc.ec[e.ContextKeyName[len(ecPrefix):]] = e.ContextKeyValues[0]
		case name == "aws:currenttime" || name == "aws:epochtime":
			t, ok := parseDate(e.ContextKeyValues[0])
			if !ok {
				return nil, invalidInput("Invalid value '%s' for context key %s: give a date or epoch seconds.", echo(e.ContextKeyValues[0]), e.ContextKeyName)
			}
			rc.at = t
		default:
			rc.conds[name] = append(rc.conds[name], e.ContextKeyValues...)
		}
	}
	return rc, nil
}

func invalidInput(format string, args ...any) error {
	return &identity.Error{Code: identity.CodeInvalidInput, Message: fmt.Sprintf(format, args...)}
}

func validContextValue(typ, v string) bool {
	switch typ {
	case "numeric":
		_, err := strconv.ParseFloat(v, 64)
		return err == nil
	case "boolean":
		return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
	case "ip":
		if _, err := netip.ParsePrefix(v); err == nil {
			return true
		}
		_, err := netip.ParseAddr(v)
		return err == nil
	case "binary":
		_, err := base64.StdEncoding.DecodeString(v)
		return err == nil
	case "date":
		_, ok := parseDate(v)
		return ok
	}
	return true
}

// parseDate reads a date as IAM's date condition operators do: ISO 8601
// or epoch seconds.
func parseDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

// conditions are the condition keys the simulated request carries beside
// its encryption context: the context entries, the Region of the resource,
// and no transport (a simulated request comes over none, so
// aws:SecureTransport is absent unless an entry gives it).
func (rc *requestContext) conditions(region string) map[string][]string {
	m := map[string][]string{"aws:securetransport": nil}
	if region != "" {
		m["aws:requestedregion"] = []string{region}
	}
	maps.Copy(m, rc.conds)
	return m
}

// clock is the request time: the one the entries give, or def.
func (rc *requestContext) clock(def kms.Clock) kms.Clock {
	if rc.at.IsZero() {
		return def
	}
	return fixedClock{rc.at}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// supplied reports whether a condition key has a value in the simulation
// without an entry naming it missing: an entry gave it, or kmsd derives it
// from the principal, the time, the resource's ARN or, on a key, the key.
func (rc *requestContext) supplied(key string, onKey, withResource bool) bool {
	if _, ok := rc.conds[key]; ok {
		return true
	}
	if ek, ok := strings.CutPrefix(key, ecPrefix); ok {
		for k := range rc.ec {
			if strings.EqualFold(k, ek) {
				return true
			}
		}
		return false
	}
	switch key {
	case "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid", "aws:username",
		"aws:currenttime", "aws:epochtime", "kms:calleraccount", "aws:principalisawsservice", "aws:principalservicename":
		return true
	case "kms:encryptioncontextkeys":
		return len(rc.ec) > 0
	case "aws:resourceaccount", "aws:requestedregion":
		return withResource
	case "kms:keyorigin", "kms:keyspec", "kms:keyusage", "kms:multiregion", "kms:multiregionkeytype",
		"kms:resourcealiases", "kms:requestalias":
		return onKey
	}
	return onKey && strings.HasPrefix(key, "aws:resourcetag/")
}
