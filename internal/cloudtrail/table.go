package cloudtrail

import "context"

// readOnly marks an operation CloudTrail records as read-only.
const readOnly = true

// operation is one entry of the table: how to run it, and whether
// CloudTrail counts it as read-only.
type operation struct {
	readOnly bool
	run      func(ctx context.Context, h *Handler, c *call, body []byte) (any, error)
}

// operations maps X-Amz-Target operation names to their implementation.
// Operations of the API that are not listed answer
// UnsupportedOperationException.
func operations() map[string]operation {
	return map[string]operation{
		"LookupEvents": op((*Handler).lookupEvents, readOnly),
	}
}

// op adapts an operation on its request and response shapes to the table.
func op[I, O any](f func(*Handler, context.Context, *call, *I) (*O, error), readOnly bool) operation {
	return operation{readOnly: readOnly, run: func(ctx context.Context, h *Handler, c *call, body []byte) (any, error) {
		var in I
		if err := decodeBody(body, &in); err != nil {
			return nil, err
		}
		return f(h, ctx, c, &in)
	}}
}
