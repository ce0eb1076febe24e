package kms

import (
	"context"
	"sort"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// ListGrants pages through a key's grants, optionally one grant or one
// grantee's.
func (s *Service) ListGrants(ctx context.Context, c *Call, in *kmsapi.ListGrantsInput) (*kmsapi.ListGrantsOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if in.GrantId != "" && !validGrantID(in.GrantId) {
		return nil, errInvalidGrantID(in.GrantId)
	}
	if in.GranteePrincipal != "" && in.GranteeServicePrincipal != "" {
		return nil, kmserr.New(kmserr.Validation, "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	}
	k, err := s.findKey(ctx, c, in.KeyId, "kms:ListGrants")
	if err != nil {
		return nil, err
	}
	if err := s.authorizeGrantAction(ctx, c, "kms:ListGrants", k); err != nil {
		return nil, err
	}
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	limit := listLimit(in.Limit)
	out := &kmsapi.ListGrantsOutput{Grants: []kmsapi.GrantListEntry{}, Truncated: kmsapi.Bool(false)}
	var all []*grant
	if k.grants != nil {
		all = k.grants.all
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].rec.GrantID > after })
	for ; i < len(all); i++ {
		r := all[i].rec
		switch {
		case in.GrantId != "" && r.GrantID != in.GrantId,
			in.GranteePrincipal != "" && r.Grantee != in.GranteePrincipal,
			in.GranteeServicePrincipal != "" && (!r.GranteeService || r.Grantee != in.GranteeServicePrincipal):
			continue
		}
		if len(out.Grants) == limit {
			out.Truncated = kmsapi.Bool(true)
			out.NextMarker = encodeMarker(out.Grants[limit-1].GrantId)
			break
		}
		out.Grants = append(out.Grants, r.listEntry())
	}
	return out, nil
}

// ListRetirableGrants lists the grants, on keys of any account in this
// Region, that a principal of the caller's account may retire. It reads
// the retiring-principal index, not the keys.
func (s *Service) ListRetirableGrants(ctx context.Context, c *Call, in *kmsapi.ListRetirableGrantsInput) (*kmsapi.ListRetirableGrantsOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	principal := in.RetiringPrincipal
	switch {
	case principal != "" && in.RetiringServicePrincipal != "":
		return nil, kmserr.New(kmserr.Validation, "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
	case principal == "" && in.RetiringServicePrincipal == "":
		return nil, kmserr.New(kmserr.Validation, "1 validation error detected: Value null at 'retiringPrincipal' failed to satisfy constraint: Member must not be null")
	case principal == "":
		// Only a service may list what a service principal can retire.
		principal = in.RetiringServicePrincipal
		if !isServiceCaller(&c.Caller) {
			return nil, AccessDenied(&c.Caller, "kms:ListRetirableGrants", principal, "because the RetiringServicePrincipal filter is only usable by callers in a service principal")
		}
	default:
		if !validPrincipalARN(principal) {
			return nil, kmserr.New(kmserr.InvalidArn, "ARN does not refer to a valid principal: %s", principal)
		}
		// The authorized resource is the principal: one of the caller's
		// own account.
		if principalAccount(principal) != c.Caller.AccountID {
			return nil, AccessDenied(&c.Caller, "kms:ListRetirableGrants", principal, "because no identity-based policy allows the kms:ListRetirableGrants action on a principal of another account")
		}
	}
	if err := s.authorize(ctx, c, "kms:ListRetirableGrants", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	limit := listLimit(in.Limit)
	prefix := retirablePrefix(c.Caller.Region, principal)
	out := &kmsapi.ListGrantsOutput{Grants: []kmsapi.GrantListEntry{}, Truncated: kmsapi.Bool(false)}
	err = s.store.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketGrantsRetiring, prefix, markerKey(prefix, after), limit+1)
		if err != nil {
			return err
		}
		for i, kv := range kvs {
			if i == limit {
				out.Truncated = kmsapi.Bool(true)
				out.NextMarker = encodeMarker(string(kvs[i-1].Key[len(prefix):]))
				break
			}
			b, err := tx.Get(bucketGrants, kv.Key[len(prefix):])
			if err != nil {
				return err
			}
			r, err := decodeGrant(b)
			if err != nil {
				return err
			}
			out.Grants = append(out.Grants, r.listEntry())
		}
		return nil
	})
	if err != nil {
		return nil, kmserr.Internalf("list retirable grants: %w", err)
	}
	return out, nil
}

// listLimit applies ListGrants' default of 50 and maximum of 100: a larger
// Limit returns fewer items, as AWS allows.
func listLimit(l *int32) int {
	return min(limitOf(l, 50), 100)
}
