package api

import (
	"context"
	"reflect"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kms"
)

// operation decodes a request body, runs one KMS operation and returns the
// response along with the audit views of request and response.
type operation struct {
	readOnly bool
	run      func(ctx context.Context, svc *kms.Service, c *kms.Call, body []byte, ev *auditViews) (any, error)
	void     bool
}

type auditViews struct {
	params   map[string]any
	elements map[string]any
}

type input[I any] interface {
	*I
	RequestParameters() map[string]any
}

type output[O any] interface {
	*O
	ResponseElements() map[string]any
}

// op adapts a Service method to an operation. Validation happens inside the
// method itself, so non-HTTP callers get the same checks. As in CloudTrail,
// read-only calls (reads and cryptographic operations) record no response
// elements; the others record their sanitized response.
func op[I, O any, PI input[I], PO output[O]](f func(*kms.Service, context.Context, *kms.Call, PI) (PO, error), readOnly bool) operation {
	return operation{
		readOnly: readOnly,
		void:     reflect.TypeFor[O]().NumField() == 0,
		run: func(ctx context.Context, svc *kms.Service, c *kms.Call, body []byte, ev *auditViews) (any, error) {
			in := PI(new(I))
			if err := decodeBody(body, in); err != nil {
				return nil, err
			}
			// The request is recorded before the service validates it, so
			// its view is bounded here, whatever the caller sent.
			ev.params = audit.BoundView(in.RequestParameters())
			out, err := f(svc, ctx, c, in)
			if err != nil {
				return nil, boundError(err)
			}
			if !readOnly {
				ev.elements = audit.BoundView(out.ResponseElements())
			}
			return out, nil
		},
	}
}
