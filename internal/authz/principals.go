package authz

import "context"

// PrincipalID returns the unique id of the IAM user or role whose ARN is
// arn, or ok false when none exists. It implements kms.PrincipalResolver,
// with which key policies bind the principals they name to their ids.
func (p *Policies) PrincipalID(ctx context.Context, arn string) (id string, ok bool, err error) {
	return p.Store.PrincipalID(ctx, arn)
}
