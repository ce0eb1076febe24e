package identity

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// Role is an IAM role: a principal that trusted callers assume with
// AssumeRole, receiving temporary credentials.
type Role struct {
	V                        int            `json:"v"`
	AccountID                string         `json:"accountId"`
	Path                     string         `json:"path"`
	RoleName                 string         `json:"roleName"`
	RoleID                   string         `json:"roleId"`
	Description              string         `json:"description,omitempty"`
	AssumeRolePolicyDocument string         `json:"assumeRolePolicyDocument"`
	MaxSessionDuration       int            `json:"maxSessionDuration"` // seconds
	Created                  time.Time      `json:"created"`
	Tags                     []Tag          `json:"tags,omitempty"`
	Policies                 []InlinePolicy `json:"policies,omitempty"`
	// TrustPrincipals binds the users and roles the trust policy names to
	// their unique ids (trustbind.go); empty in records older than that.
	TrustPrincipals []BoundPrincipal `json:"trustPrincipals,omitempty"`
}

// ARN is the role's ARN, with its path.
func (r *Role) ARN() string { return roleARN(r.AccountID, r.Path, r.RoleName) }

func (r *Role) key() []byte             { return lowerKey(r.AccountID, r.RoleName) }
func (r *Role) uniqueID() string        { return r.RoleID }
func (r *Role) displayName() string     { return r.RoleName }
func (r *Role) inline() *[]InlinePolicy { return &r.Policies }

// Session durations, in seconds.
const (
	MinSessionDuration     = 900
	MaxSessionDuration     = 43200
	DefaultSessionDuration = 3600
	// ChainedSessionDuration caps a session assumed with the credentials of
	// another role session (role chaining).
	ChainedSessionDuration = 3600
)

// CreateRoleInput describes a new role.
type CreateRoleInput struct {
	RoleName                 string
	Path                     string // "" means "/"
	AssumeRolePolicyDocument string
	Description              string
	MaxSessionDuration       int // seconds, 3600..43200; 0 means 3600
	Tags                     []Tag
}

// CreateRole makes a role in account. Its trust policy must be a valid
// policy (MalformedPolicyDocument) within the trust policy size quota.
func (s *Store) CreateRole(ctx context.Context, account string, in CreateRoleInput) (*Role, error) {
	if in.Path == "" {
		in.Path = "/"
	}
	if in.MaxSessionDuration == 0 {
		in.MaxSessionDuration = DefaultSessionDuration
	}
	if !ValidName(in.RoleName, 64) || !ValidPath(in.Path) {
		return nil, newError(CodeInvalidInput, "The role name or path is not valid.")
	}
	if in.MaxSessionDuration < DefaultSessionDuration || in.MaxSessionDuration > MaxSessionDuration {
		return nil, newError(CodeValidation, "The specified value for maxSessionDuration is invalid. It must be between %d and %d seconds.",
			DefaultSessionDuration, MaxSessionDuration)
	}
	if err := s.checkTrustPolicy(in.AssumeRolePolicyDocument); err != nil {
		return nil, err
	}
	r := &Role{V: 1, AccountID: account, Path: in.Path, RoleName: in.RoleName, RoleID: newID(prefixRole, 17),
		Description: in.Description, AssumeRolePolicyDocument: in.AssumeRolePolicyDocument,
		MaxSessionDuration: in.MaxSessionDuration, Created: s.now().Truncate(time.Second), Tags: slices.Clone(in.Tags)}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := s.ensureAccount(tx, account); err != nil {
			return err
		}
		if _, err := tx.Get(bucketRoles, r.key()); err == nil {
			return newError(CodeEntityAlreadyExists, "Role with name %s already exists.", in.RoleName)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		n, err := roleKind.count(tx, account)
		if err != nil {
			return err
		}
		if n >= s.limits.RolesPerAccount {
			return newError(CodeLimitExceeded, "Cannot exceed quota for RolesPerAccount: %d", s.limits.RolesPerAccount)
		}
		if r.TrustPrincipals, err = bindPrincipals(tx, account, r.AssumeRolePolicyDocument); err != nil {
			return err
		}
		committing(ctx, r)
		return putJSON(tx, bucketRoles, r.key(), r)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Store) checkTrustPolicy(doc string) error {
	if err := policyError(s.policies.ValidateTrustPolicy(doc)); err != nil {
		return err
	}
	if policySize(doc) > s.limits.TrustPolicySize {
		return newError(CodeLimitExceeded, "Cannot exceed quota for ACLSizePerRole: %d", s.limits.TrustPolicySize)
	}
	return nil
}

// GetRole returns the role named name (case-insensitively), its trust
// policy as IAM shows it: with the unique id in place of a user or role
// it names that is gone.
func (s *Store) GetRole(ctx context.Context, account, name string) (*Role, error) {
	var r *Role
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		if r, err = loadRole(tx, account, name); err != nil {
			return err
		}
		r.AssumeRolePolicyDocument, err = renderTrust(tx, r)
		return err
	})
	return r, err
}

// role returns the role named name as stored, its trust policy as saved.
func (s *Store) role(ctx context.Context, account, name string) (*Role, error) {
	var r *Role
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = loadRole(tx, account, name)
		return err
	})
	return r, err
}

func loadRole(tx store.Tx, account, name string) (*Role, error) {
	e, err := roleKind.load(tx, account, name)
	if err != nil {
		return nil, err
	}
	return e.(*Role), nil
}

// DeleteRole removes a role that has no inline policies left
// (DeleteConflict otherwise). Its sessions stop working at once.
func (s *Store) DeleteRole(ctx context.Context, account, name string) error {
	var revoked []string
	err := s.st.Update(ctx, func(tx store.Tx) error {
		r, err := loadRole(tx, account, name)
		if err != nil {
			return err
		}
		if len(r.Policies) > 0 {
			return newError(CodeDeleteConflict, "Cannot delete entity, must delete policies first.")
		}
		if revoked, err = deleteRoleSessions(tx, account, r.RoleName); err != nil {
			return err
		}
		return tx.Delete(bucketRoles, r.key())
	})
	if err == nil {
		s.invalidate(revoked...)
	}
	return err
}

// UpdateAssumeRolePolicy replaces a role's trust policy. Sessions already
// issued keep working until they expire, as in AWS.
func (s *Store) UpdateAssumeRolePolicy(ctx context.Context, account, name, doc string) error {
	if err := s.checkTrustPolicy(doc); err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		r, err := loadRole(tx, account, name)
		if err != nil {
			return err
		}
		bound, err := bindPrincipals(tx, account, doc)
		if err != nil {
			return err
		}
		r.AssumeRolePolicyDocument, r.TrustPrincipals = doc, bound
		return putJSON(tx, bucketRoles, r.key(), r)
	})
}

// ListRoles returns a page of an account's roles whose path starts with
// in.PathPrefix, in name order.
func (s *Store) ListRoles(ctx context.Context, account string, in ListInput) (Page[*Role], error) {
	page, err := listByPath(ctx, s, bucketRoles, account, in,
		func(r *Role) string { return r.Path }, func(r *Role) string { return r.RoleName })
	if err != nil {
		return page, err
	}
	err = s.st.View(ctx, func(tx store.Tx) error {
		for _, r := range page.Items {
			var err error
			if r.AssumeRolePolicyDocument, err = renderTrust(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	return page, err
}
