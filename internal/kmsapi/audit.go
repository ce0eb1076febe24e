package kmsapi

import "time"

// nilIfEmpty returns m, or nil when it has no entries: CloudTrail records an
// empty view as null.
func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func auditMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func auditList[T ~string](l []T) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = string(v)
	}
	return out
}

func (t *Timestamp) rfc3339() string { return time.Time(*t).UTC().Format(time.RFC3339Nano) }
