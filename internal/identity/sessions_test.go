package identity_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

func TestAssumeRoleIssuesSessionCredentials(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	alice := identity.Principal{Type: identity.TypeIAMUser, AccountID: acct, ARN: "arn:aws:iam::111122223333:user/alice", PrincipalID: u.UserID, UserName: "alice"}
	role := ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "deployer", Path: "/ci/", AssumeRolePolicyDocument: trustAlice, MaxSessionDuration: 7200}))(t)
	out := ok(e.ids.AssumeRole(bg, alice, identity.AssumeRoleInput{RoleARN: role.ARN(), RoleSessionName: "build-42", DurationSeconds: 7200}))(t)
	cr := out.Credentials
	if !strings.HasPrefix(cr.AccessKeyID, "ASIA") || len(cr.AccessKeyID) != 20 || len(cr.SecretAccessKey) != 40 || len(cr.SessionToken) < 100 ||
		!cr.Expiration.Equal(e.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("credentials %s, expiring %s", cr.AccessKeyID, cr.Expiration)
	}
	if out.AssumedRoleARN != "arn:aws:sts::111122223333:assumed-role/deployer/build-42" || out.AssumedRoleID != role.RoleID+":build-42" {
		t.Fatalf("assumed role user %s %s", out.AssumedRoleARN, out.AssumedRoleID)
	}
	c := ok(e.ids.Credential(bg, cr.AccessKeyID))(t)
	p := c.Principal
	if !c.Secret.Equal(cr.SecretAccessKey) || !c.SessionToken.Equal(cr.SessionToken) || !c.Expires.Equal(cr.Expiration) ||
		p.Type != identity.TypeAssumedRole || p.ARN != out.AssumedRoleARN || p.PrincipalID != out.AssumedRoleID ||
		p.RoleARN != "arn:aws:iam::111122223333:role/ci/deployer" || p.SessionName != "build-42" {
		t.Fatalf("session credential %+v", p)
	}

	// Chaining from the session is capped at one hour, and needs trust.
	if err := e.ids.UpdateAssumeRolePolicy(bg, acct, "deployer", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:role/ci/deployer"]},"Action":"sts:*"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err := e.ids.AssumeRole(bg, p, identity.AssumeRoleInput{RoleARN: role.ARN(), RoleSessionName: "chained", DurationSeconds: 3601})
	if msg := wantCode(t, err, identity.CodeValidation); !strings.Contains(msg, "role chaining") {
		t.Errorf("message %q", msg)
	}
	ok(e.ids.AssumeRole(bg, p, identity.AssumeRoleInput{RoleARN: role.ARN(), RoleSessionName: "chained"}))(t)

	// Longer than the role allows.
	_, err = e.ids.AssumeRole(bg, alice, identity.AssumeRoleInput{RoleARN: role.ARN(), RoleSessionName: "long", DurationSeconds: 7201})
	if msg := wantCode(t, err, identity.CodeValidation); msg != "The requested DurationSeconds exceeds the MaxSessionDuration set for this role." {
		t.Errorf("message %q", msg)
	}

	// Deleting the role revokes its sessions at once.
	if err := e.ids.DeleteRole(bg, acct, "deployer"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.Credential(bg, cr.AccessKeyID); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("session of a deleted role: %v", err)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	e := newEnv(t)
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "deployer", AssumeRolePolicyDocument: trustAlice}))(t)
	bob := identity.Principal{Type: identity.TypeIAMUser, AccountID: acct, ARN: "arn:aws:iam::111122223333:user/bob", UserName: "bob"}
	arn := "arn:aws:iam::111122223333:role/deployer"
	want := "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole on resource: "
	for _, tc := range []struct{ name, arn string }{
		{"untrusted principal", arn},
		{"no such role", "arn:aws:iam::111122223333:role/nothing"},
		{"wrong path", "arn:aws:iam::111122223333:role/other/deployer"},
		{"another account", "arn:aws:iam::444455556666:role/deployer"},
	} {
		_, err := e.ids.AssumeRole(bg, bob, identity.AssumeRoleInput{RoleARN: tc.arn, RoleSessionName: "s1"})
		if msg := wantCode(t, err, identity.CodeAccessDenied); msg != want+tc.arn {
			t.Errorf("%s: message %q", tc.name, msg)
		}
	}
	_, err := e.ids.AssumeRole(bg, identity.RootPrincipal(acct), identity.AssumeRoleInput{RoleARN: arn, RoleSessionName: "s1"})
	if msg := wantCode(t, err, identity.CodeAccessDenied); msg != "Roles may not be assumed by root accounts." {
		t.Errorf("root: message %q", msg)
	}
	_, err = e.ids.AssumeRole(bg, bob, identity.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:user/bob", RoleSessionName: "s1"})
	wantCode(t, err, identity.CodeValidation)

	// kmsd dev without --enforce: the root may assume a role trusting its account.
	dev := newEnv(t, func(c *identity.Config) { c.RootMayAssumeRoles = true })
	ok(dev.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`}))(t)
	ok(dev.ids.AssumeRole(bg, identity.RootPrincipal(acct), identity.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:role/r", RoleSessionName: "dev"}))(t)
}

func TestExpiredSessionsArePrunedAfterRetention(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustAlice}))(t)
	alice := identity.Principal{Type: identity.TypeIAMUser, AccountID: acct, ARN: "arn:aws:iam::111122223333:user/alice", PrincipalID: u.UserID}
	out := ok(e.ids.AssumeRole(bg, alice, identity.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:role/r", RoleSessionName: "s1", DurationSeconds: 900}))(t)
	akid := out.Credentials.AccessKeyID
	e.clock.Add(time.Hour)
	if n := ok(e.ids.PruneSessions(bg))(t); n != 0 {
		t.Fatalf("pruned %d sessions within the retention", n)
	}
	if c := ok(e.ids.Credential(bg, akid))(t); !c.Expires.Before(e.clock.Now()) {
		t.Fatal("session should be expired, and still known")
	}
	e.clock.Add(identity.ExpiredSessionRetention)
	if n := ok(e.ids.PruneSessions(bg))(t); n != 1 {
		t.Fatalf("pruned %d sessions, want 1", n)
	}
	if _, err := e.ids.Credential(bg, akid); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("pruned session: %v", err)
	}
	// The role can be deleted: no index entry is left behind.
	if err := e.ids.DeleteRole(bg, acct, "r"); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	_, sec := must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
	ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "r", AssumeRolePolicyDocument: trustAlice}))(t)
	out := ok(e.ids.AssumeRole(bg, identity.Principal{Type: identity.TypeIAMUser, AccountID: acct, ARN: "arn:aws:iam::111122223333:user/alice", PrincipalID: u.UserID},
		identity.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:role/r", RoleSessionName: "s1"}))(t)
	db, err := os.ReadFile(e.db)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]secret.Bytes{"access key secret": sec, "session secret": out.Credentials.SecretAccessKey, "session token": out.Credentials.SessionToken} {
		if bytes.Contains(db, s) {
			t.Errorf("the store holds a %s in plaintext", name)
		}
	}
	if !bytes.Contains(db, []byte(out.Credentials.AccessKeyID)) {
		t.Error("the store should hold the session's access key id (sanity check of the scan)")
	}
}
