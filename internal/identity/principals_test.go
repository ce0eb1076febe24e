package identity_test

import (
	"testing"

	"github.com/kmsd/kmsd/internal/identity"
)

// TestPrincipalIDs: a user or role resolves by its exact ARN to its unique
// id; another case, another path, another account or a deleted principal
// resolves to nothing; a recreated one to a new id.
func TestPrincipalIDs(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice", Path: "/eng/"}))(t)
	r := ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "App", AssumeRolePolicyDocument: trustAccount}))(t)
	resolve := func(arn string) (string, bool) {
		t.Helper()
		id, found, err := e.ids.PrincipalID(bg, arn)
		if err != nil {
			t.Fatal(err)
		}
		return id, found
	}
	for arn, want := range map[string]string{
		"arn:aws:iam::111122223333:user/eng/alice":      u.UserID,
		"arn:aws:iam::111122223333:role/App":            r.RoleID,
		"arn:aws:iam::111122223333:user/alice":          "", // the path is part of the ARN
		"arn:aws:iam::111122223333:user/eng/Alice":      "", // so is the name's case
		"arn:aws:iam::111122223333:role/app":            "",
		"arn:aws:iam::444455556666:role/App":            "",
		"arn:aws:iam::111122223333:root":                "",
		"arn:aws:sts::111122223333:assumed-role/App/s1": "",
	} {
		if id, found := resolve(arn); id != want || found != (want != "") {
			t.Errorf("PrincipalID(%s) = %q, %v; want %q", arn, id, found, want)
		}
	}
	if id, found, err := e.ids.UniqueIDOf(bg, "arn:aws:sts::111122223333:assumed-role/App/s1"); err != nil || !found || id != r.RoleID+":s1" {
		t.Errorf("UniqueIDOf(session) = %q, %v, %v", id, found, err)
	}
	if id, found, err := e.ids.UniqueIDOf(bg, "arn:aws:iam::111122223333:root"); err != nil || !found || id != acct {
		t.Errorf("UniqueIDOf(root) = %q, %v, %v", id, found, err)
	}

	if err := e.ids.DeleteUser(bg, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	if id, found := resolve(u.ARN()); found {
		t.Fatalf("a deleted user resolved to %s", id)
	}
	u2 := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice", Path: "/eng/"}))(t)
	if id, _ := resolve(u.ARN()); id != u2.UserID || id == u.UserID {
		t.Fatalf("the recreated user resolved to %s (old %s, new %s)", id, u.UserID, u2.UserID)
	}
}
