package identity

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// User is an IAM user.
type User struct {
	V         int            `json:"v"`
	AccountID string         `json:"accountId"`
	Path      string         `json:"path"`
	UserName  string         `json:"userName"`
	UserID    string         `json:"userId"`
	Created   time.Time      `json:"created"`
	Tags      []Tag          `json:"tags,omitempty"`
	Policies  []InlinePolicy `json:"policies,omitempty"`
}

// ARN is the user's ARN, with its path.
func (u *User) ARN() string { return userARN(u.AccountID, u.Path, u.UserName) }

func (u *User) key() []byte             { return lowerKey(u.AccountID, u.UserName) }
func (u *User) uniqueID() string        { return u.UserID }
func (u *User) displayName() string     { return u.UserName }
func (u *User) inline() *[]InlinePolicy { return &u.Policies }

// CreateUserInput names a new user.
type CreateUserInput struct {
	UserName string
	Path     string // "" means "/"
	Tags     []Tag
}

// CreateUser makes a user in account.
func (s *Store) CreateUser(ctx context.Context, account string, in CreateUserInput) (*User, error) {
	if in.Path == "" {
		in.Path = "/"
	}
	if !ValidName(in.UserName, 64) || !ValidPath(in.Path) {
		return nil, newError(CodeInvalidInput, "The user name or path is not valid.")
	}
	u := &User{V: 1, AccountID: account, Path: in.Path, UserName: in.UserName, UserID: newID(prefixUser, 17),
		Created: s.now().Truncate(time.Second), Tags: slices.Clone(in.Tags)}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if err := s.ensureAccount(tx, account); err != nil {
			return err
		}
		if _, err := tx.Get(bucketUsers, u.key()); err == nil {
			return newError(CodeEntityAlreadyExists, "User with name %s already exists.", in.UserName)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		n, err := userKind.count(tx, account)
		if err != nil {
			return err
		}
		if n >= s.limits.UsersPerAccount {
			return newError(CodeLimitExceeded, "Cannot exceed quota for UsersPerAccount: %d", s.limits.UsersPerAccount)
		}
		committing(ctx, u)
		return putJSON(tx, bucketUsers, u.key(), u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// GetUser returns the user named name (case-insensitively).
func (s *Store) GetUser(ctx context.Context, account, name string) (*User, error) {
	var u *User
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		u, err = loadUser(tx, account, name)
		return err
	})
	return u, err
}

func loadUser(tx store.Tx, account, name string) (*User, error) {
	e, err := userKind.load(tx, account, name)
	if err != nil {
		return nil, err
	}
	return e.(*User), nil
}

// DeleteUser removes a user that has no access keys and no inline policies
// left (DeleteConflict otherwise), as IAM requires.
func (s *Store) DeleteUser(ctx context.Context, account, name string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		u, err := loadUser(tx, account, name)
		if err != nil {
			return err
		}
		keys, err := tx.Scan(bucketKeyOwners, ownerPrefix(account, u.UserName), nil, 1)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			return newError(CodeDeleteConflict, "Cannot delete entity, must delete access keys first.")
		}
		if len(u.Policies) > 0 {
			return newError(CodeDeleteConflict, "Cannot delete entity, must delete policies first.")
		}
		return tx.Delete(bucketUsers, u.key())
	})
	if err == nil {
		s.invalidate()
	}
	return err
}

// ListUsers returns a page of an account's users whose path starts with
// in.PathPrefix, in name order.
func (s *Store) ListUsers(ctx context.Context, account string, in ListInput) (Page[*User], error) {
	return listByPath(ctx, s, bucketUsers, account, in,
		func(u *User) string { return u.Path }, func(u *User) string { return u.UserName })
}
