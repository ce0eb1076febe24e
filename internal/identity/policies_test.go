package identity_test

import (
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

func TestPolicyValidation(t *testing.T) {
	e := newEnv(t)
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	identityCases := []struct{ doc, msg string }{
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`, ""},
		{`{"Statement":{"Effect":"Deny","NotAction":"kms:*","NotResource":"arn:aws:kms:*"}}`, ""},
		{`not json`, "Syntax errors in policy."},
		{`{"Statement":[]}`, "Syntax errors in policy."},
		{`{"Statement":[{"Effect":"Allow","Action":"x","Resource":"*"}]} trailing`, "Syntax errors in policy."},
		{`{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"x","Resource":"*"}]}`, "The policy failed legacy parsing"},
		{`{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{`{"Statement":[{"Action":"x","Resource":"*"}]}`, "Missing required field Effect"},
		{`{"Statement":[{"Effect":"Maybe","Action":"x","Resource":"*"}]}`, "Invalid effect: Maybe"},
		{`{"Statement":[{"Effect":"Allow","Resource":"*"}]}`, "Policy statement must contain actions."},
		{`{"Statement":[{"Effect":"Allow","Action":"x"}]}`, "Policy statement must contain resources."},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"x","Resource":"*"}]}`, "Policy document should not specify a principal."},
	}
	for _, tc := range identityCases {
		err := e.ids.PutUserPolicy(bg, acct, "alice", "p", tc.doc)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.doc, err)
			}
			continue
		}
		if msg := wantCode(t, err, identity.CodeMalformedPolicyDocument); msg != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.doc, msg, tc.msg)
		}
	}
	trustCases := []struct{ doc, msg string }{
		{trustAlice, ""},
		{`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`, "Missing required field Principal"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}`, "Has prohibited field Resource"},
	}
	for i, tc := range trustCases {
		_, err := e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "r" + string(rune('a'+i)), AssumeRolePolicyDocument: tc.doc})
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.doc, err)
			}
			continue
		}
		if msg := wantCode(t, err, identity.CodeMalformedPolicyDocument); msg != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.doc, msg, tc.msg)
		}
	}
}

func TestPolicySizeQuotas(t *testing.T) {
	e := newEnv(t)
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	doc := func(n int) string {
		return `{"Statement":[{"Effect":"Allow","Action":"kms:` + strings.Repeat("x", n) + `","Resource":"*"}]}`
	}
	if err := e.ids.PutUserPolicy(bg, acct, "alice", "a", doc(1000)); err != nil {
		t.Fatal(err)
	}
	// Whitespace does not count.
	if err := e.ids.PutUserPolicy(bg, acct, "alice", "b", doc(900)+strings.Repeat(" \n", 2000)); err != nil {
		t.Fatal(err)
	}
	err := e.ids.PutUserPolicy(bg, acct, "alice", "c", doc(100))
	if msg := wantCode(t, err, identity.CodeLimitExceeded); msg != "Maximum policy size of 2048 bytes exceeded for user alice" {
		t.Errorf("message %q", msg)
	}
	names := ok(e.ids.ListUserPolicies(bg, acct, "alice", identity.ListInput{}))(t)
	if strings.Join(names.Items, ",") != "a,b" {
		t.Fatalf("a refused policy was stored: %v", names.Items)
	}
	_, err = e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "r",
		AssumeRolePolicyDocument: `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + strings.Repeat("x", 2100) + `"},"Action":"sts:AssumeRole"}]}`})
	if msg := wantCode(t, err, identity.CodeLimitExceeded); msg != "Cannot exceed quota for ACLSizePerRole: 2048" {
		t.Errorf("message %q", msg)
	}
}

func TestIdentityPolicies(t *testing.T) {
	e := newEnv(t)
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice", Path: "/eng/"}))(t)
	ok(e.ids.CreateRole(bg, acct, identity.CreateRoleInput{RoleName: "deployer", AssumeRolePolicyDocument: trustAccount}))(t)
	p1 := `{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	p2 := `{"Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	userARN := "arn:aws:iam::111122223333:user/eng/alice"

	if got := ok(e.ids.IdentityPolicies(bg, userARN))(t); len(got) != 0 {
		t.Fatalf("no policies yet, got %v", got)
	}
	if err := e.ids.PutUserPolicy(bg, acct, "alice", "b", p2); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.PutUserPolicy(bg, acct, "alice", "a", p1); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.PutRolePolicy(bg, acct, "deployer", "r", p2); err != nil {
		t.Fatal(err)
	}
	for arn, want := range map[string][]string{
		userARN: {p1, p2},
		"arn:aws:iam::111122223333:role/deployer":                 {p2},
		"arn:aws:sts::111122223333:assumed-role/deployer/session": {p2},
		"arn:aws:iam::111122223333:root":                          nil,
	} {
		got := ok(e.ids.IdentityPolicies(bg, arn))(t)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: got %v, want %v", arn, got, want)
		}
	}
	// A change is seen at once, although the answer was cached.
	if err := e.ids.DeleteUserPolicy(bg, acct, "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if got := ok(e.ids.IdentityPolicies(bg, userARN))(t); len(got) != 1 || got[0] != p2 {
		t.Fatalf("after delete: %v", got)
	}
	for _, arn := range []string{"arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/eng/nobody", "arn:aws:iam::111122223333:role/nothing"} {
		_, err := e.ids.IdentityPolicies(bg, arn)
		wantCode(t, err, identity.CodeNoSuchEntity)
	}
	_, err := e.ids.IdentityPolicies(bg, "arn:aws:kms:us-east-1:111122223333:key/x")
	wantCode(t, err, identity.CodeValidation)
	// The stored document is returned verbatim.
	pol := ok(e.ids.GetUserPolicy(bg, acct, "alice", "B"))(t)
	if pol.Name != "b" || pol.Document != p2 {
		t.Fatalf("GetUserPolicy %+v", pol)
	}
}

func TestInitIndexesKeysOfOlderDataDirectories(t *testing.T) {
	e := newEnv(t)
	if err := e.ids.EnsureAccessKey(bg, "444455556666", "", "AKIAOLDROOTKEY000001", secret.Bytes("s")); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.Init(bg, acct); err != nil {
		t.Fatal(err)
	}
	keys := ok(e.ids.ListAccessKeys(bg, "444455556666", ""))(t)
	if len(keys) != 1 {
		t.Fatalf("keys %+v", keys)
	}
	a := ok(e.ids.Account(bg, "444455556666"))(t)
	if a.AccountID != "444455556666" {
		t.Fatalf("account %+v", a)
	}
}

func TestParseARN(t *testing.T) {
	for _, tc := range []struct {
		arn                       string
		ok                        bool
		kind, path, name, session string
	}{
		{"arn:aws:iam::111122223333:root", true, "root", "", "", ""},
		{"arn:aws:iam::111122223333:user/alice", true, "user", "/", "alice", ""},
		{"arn:aws:iam::111122223333:user/a/b/alice", true, "user", "/a/b/", "alice", ""},
		{"arn:aws:iam::111122223333:role/deployer", true, "role", "/", "deployer", ""},
		{"arn:aws:sts::111122223333:assumed-role/deployer/s1", true, "assumed-role", "", "deployer", "s1"},
		{"arn:aws:sts::111122223333:assumed-role/deployer", false, "", "", "", ""},
		{"arn:aws:iam::11112222333:root", false, "", "", "", ""},
		{"arn:aws:iam:us-east-1:111122223333:root", false, "", "", "", ""},
		{"arn:aws:iam::111122223333:user/", false, "", "", "", ""},
		{"arn:aws:iam::111122223333:group/g", false, "", "", "", ""},
	} {
		p, ok := identity.ParseARN(tc.arn)
		if ok != tc.ok || ok && (p.Kind != tc.kind || p.Path != tc.path || p.Name != tc.name || p.Session != tc.session || p.Account != acct) {
			t.Errorf("%s: got %+v %v", tc.arn, p, ok)
		}
	}
}
