package main

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

type seedAccessKey struct {
	ID      string `yaml:"id"`
	Secret  string `yaml:"secret"`
	Account string `yaml:"account"`
}

type seedUser struct {
	Name       string            `yaml:"name"`
	Account    string            `yaml:"account"`
	Path       string            `yaml:"path"`
	Policies   map[string]string `yaml:"policies"`
	AccessKeys []seedAccessKey   `yaml:"access_keys"`
}

type seedRole struct {
	Name               string            `yaml:"name"`
	Account            string            `yaml:"account"`
	Path               string            `yaml:"path"`
	Description        string            `yaml:"description"`
	TrustPolicy        string            `yaml:"trust_policy"`
	MaxSessionDuration int               `yaml:"max_session_duration"`
	Policies           map[string]string `yaml:"policies"`
}

// seedIdentities creates the access keys of account roots, the users with
// their access keys and the roles the seed names, where missing, and puts
// their inline policies. Access keys get the ids and secrets the file
// gives, so tests can sign with them.
func seedIdentities(ctx context.Context, ids *identity.Store, cfg Config, f *seedFile, at seedLines) (users, roles int, err error) {
	for i, k := range f.AccessKeys {
		acct := firstNonEmpty(k.Account, cfg.AccountID)
		if field, err := ensureSeedKey(ctx, ids, acct, "", k); err != nil {
			return 0, 0, at.errorf(err, "access_keys", i, field)
		}
	}
	for i, u := range f.Users {
		acct := firstNonEmpty(u.Account, cfg.AccountID)
		if _, err := ids.GetUser(ctx, acct, u.Name); identity.CodeOf(err) == identity.CodeNoSuchEntity {
			_, err = ids.CreateUser(ctx, acct, identity.CreateUserInput{UserName: u.Name, Path: u.Path})
			if err != nil {
				return 0, 0, at.errorf(err, "users", i, "name")
			}
		} else if err != nil {
			return 0, 0, at.errorf(err, "users", i)
		}
		for _, name := range slices.Sorted(maps.Keys(u.Policies)) {
			if err := ids.PutUserPolicy(ctx, acct, u.Name, name, u.Policies[name]); err != nil {
				return 0, 0, at.errorf(err, "users", i, "policies", name)
			}
		}
		for j, k := range u.AccessKeys {
			if k.Account != "" && k.Account != acct {
				return 0, 0, at.errorf(errors.New("a user's access key belongs to the user's account"), "users", i, "access_keys", j, "account")
			}
			if field, err := ensureSeedKey(ctx, ids, acct, u.Name, k); err != nil {
				return 0, 0, at.errorf(err, "users", i, "access_keys", j, field)
			}
		}
	}
	for i, r := range f.Roles {
		acct := firstNonEmpty(r.Account, cfg.AccountID)
		if _, err := ids.GetRole(ctx, acct, r.Name); identity.CodeOf(err) == identity.CodeNoSuchEntity {
			_, err = ids.CreateRole(ctx, acct, identity.CreateRoleInput{RoleName: r.Name, Path: r.Path, Description: r.Description,
				AssumeRolePolicyDocument: r.TrustPolicy, MaxSessionDuration: r.MaxSessionDuration})
			if err != nil {
				return 0, 0, at.errorf(err, "roles", i)
			}
		} else if err != nil {
			return 0, 0, at.errorf(err, "roles", i)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Policies)) {
			if err := ids.PutRolePolicy(ctx, acct, r.Name, name, r.Policies[name]); err != nil {
				return 0, 0, at.errorf(err, "roles", i, "policies", name)
			}
		}
	}
	return len(f.Users), len(f.Roles), nil
}

// ensureSeedKey stores an access key with the id and secret the seed
// gives it; an error names the field it is about.
func ensureSeedKey(ctx context.Context, ids *identity.Store, account, user string, k seedAccessKey) (field string, err error) {
	if !validAccessKeyID(k.ID) {
		return "id", errors.New("an access key id is 16 to 128 upper-case letters and digits, such as AKIAIOSFODNN7EXAMPLE")
	}
	if k.Secret == "" {
		return "secret", errors.New("an access key needs its secret")
	}
	return "", ids.EnsureAccessKey(ctx, account, user, k.ID, secret.Bytes(k.Secret))
}

func validAccessKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
