package identity

import "context"

type committingKey struct{}

// WithCommitting returns a context under which CreateUser, CreateRole and
// IssueAccessKey call fn with what they make (*User, *Role, or *AccessKey
// without its sealed secret) inside the transaction that stores it, after
// every check: a caller whose audit record is built at that commit (the
// store's outbox) can then show in it the answer it will give.
func WithCommitting(ctx context.Context, fn func(made any)) context.Context {
	return context.WithValue(ctx, committingKey{}, fn)
}

// committing hands made to the context's WithCommitting function, if any.
func committing(ctx context.Context, made any) {
	if fn, _ := ctx.Value(committingKey{}).(func(any)); fn != nil {
		fn(made)
	}
}
