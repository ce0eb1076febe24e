package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
)

// regionGate refuses, before anything else, requests signed for a Region
// the server does not serve (--regions).
type regionGate struct {
	api.Authenticator
	svc *kms.Service
}

func (g regionGate) Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error) {
	c, err := g.Authenticator.Authenticate(ctx, r, body)
	if err != nil {
		return c, err
	}
	if err := g.svc.CheckRegion(c.Region); err != nil {
		return kms.Caller{}, err
	}
	return c, nil
}

// bootstrapAccessKey gives a fresh serve-mode data directory its first
// credential, printed once; later starts find it and print nothing.
func bootstrapAccessKey(ctx context.Context, ids *identity.Store, account string) (string, error) {
	has, err := ids.HasAny(ctx)
	if err != nil || has {
		return "", err
	}
	akid, sec, err := ids.CreateAccessKey(ctx, account, "")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("  first start: created an access key for arn:aws:iam::%s:root (shown only now)\n    AWS_ACCESS_KEY_ID=%s\n    AWS_SECRET_ACCESS_KEY=%s\n", account, akid, string(sec)), nil
}
