package identity

import (
	"context"

	"github.com/kmsd/kmsd/internal/store"
)

// PrincipalID returns the unique id (AIDA… or AROA…) of the IAM user or
// role whose ARN is exactly arn, as IAM reports it (path and name, which
// policies match case-sensitively); ok is false when no such user or role
// exists. Resource policies store this id in place of the ARN, as AWS
// does, so that a principal deleted and recreated under the same name is
// not the one a policy named.
func (s *Store) PrincipalID(ctx context.Context, arn string) (id string, ok bool, err error) {
	p, parsed := ParseARN(arn)
	if !parsed || p.Kind != "user" && p.Kind != "role" {
		return "", false, nil
	}
	var e entity
	k := userKind
	if p.Kind == "role" {
		k = roleKind
	}
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		e, err = k.load(tx, p.Account, p.Name)
		return err
	})
	switch {
	case CodeOf(err) == CodeNoSuchEntity:
		return "", false, nil
	case err != nil:
		return "", false, err
	case e.ARN() != arn:
		return "", false, nil
	}
	return e.uniqueID(), true, nil
}

// UniqueIDOf returns what a request signed by the principal callerARN
// would carry as its principal id: the account id for an account root, a
// user's unique id, or ROLEID:SESSION for a role session. ok is false when
// the user or role does not exist.
func (s *Store) UniqueIDOf(ctx context.Context, callerARN string) (id string, ok bool, err error) {
	p, parsed := ParseARN(callerARN)
	if !parsed {
		return "", false, nil
	}
	switch p.Kind {
	case "root":
		return p.Account, true, nil
	case "user":
		return s.PrincipalID(ctx, callerARN)
	case "assumed-role":
		r, err := s.role(ctx, p.Account, p.Name)
		if CodeOf(err) == CodeNoSuchEntity || err == nil && r.RoleName != p.Name {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return r.RoleID + ":" + p.Session, true, nil
	}
	return "", false, nil
}
