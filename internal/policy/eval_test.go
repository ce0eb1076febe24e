package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestEvaluateNamesTheDecidingStatement(t *testing.T) {
	p := mustParse(t, doc(
		stmt(sid("Root"), allow, rootAP, kmsAll, anyRes),
		stmt(sid("Users"), allow, awsP(aliceARN), act("kms:Decrypt", "kms:Encrypt"), anyRes),
		stmt(sid("Everyone"), allow, anyP, act("kms:DescribeKey"), anyRes),
		stmt(sid("NoDelete"), deny, anyP, act("kms:ScheduleKeyDeletion"), anyRes),
	))
	tests := []struct {
		who    Request
		action string
		want   Result
	}{
		{alice, "kms:Decrypt", Result{Outcome: Allowed, Statement: 1, Sid: "Users", Match: MatchPrincipal}},
		{alice, "kms:GetKeyPolicy", Result{Outcome: Allowed, Statement: 0, Sid: "Root", Match: MatchAccount}},
		{alice, "kms:DescribeKey", Result{Outcome: Allowed, Statement: 2, Sid: "Everyone", Match: MatchWildcard}},
		{alice, "kms:ScheduleKeyDeletion", Result{Outcome: Denied, Statement: 3, Sid: "NoDelete", Match: MatchWildcard}},
		{bob, "kms:Decrypt", Result{Outcome: NotApplicable, Statement: -1}},
		{carol, "kms:Decrypt", Result{Outcome: Allowed, Statement: 0, Sid: "Root", Match: MatchAccount}},
	}
	for _, tc := range tests {
		r := tc.who
		r.Action, r.Resource = tc.action, keyARN
		if got := p.Evaluate(&r); got != tc.want {
			t.Errorf("%s %s: got %+v, want %+v", tc.who.Principal, tc.action, got, tc.want)
		}
	}
	var nilPolicy *Policy
	if got := nilPolicy.Evaluate(&alice); got.Outcome != NotApplicable || got.Statement != -1 {
		t.Fatalf("nil policy: %+v", got)
	}
}

func TestResultString(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Statement: -1}, "not applicable"},
		{Result{Outcome: Allowed, Statement: 1, Sid: "Users", Match: MatchPrincipal}, `allowed by statement 1 ("Users") matching the caller by principal`},
		{Result{Outcome: Denied, Statement: 0}, "denied by statement 0"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestAccessDeniedMessages(t *testing.T) {
	const who, action = "arn:aws:iam::111122223333:user/alice", "kms:Decrypt"
	tests := []struct {
		reason Reason
		want   string
	}{
		{NoResourcePolicyAllows, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: " + keyARN + " because no resource-based policy allows the kms:Decrypt action"},
		{NoIdentityPolicyAllows, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: " + keyARN + " because no identity-based policy allows the kms:Decrypt action"},
		{ResourcePolicyDenies, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: " + keyARN + " with an explicit deny in a resource-based policy"},
		{IdentityPolicyDenies, "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt on resource: " + keyARN + " with an explicit deny in an identity-based policy"},
	}
	for _, tc := range tests {
		if got := AccessDeniedMessage(tc.reason, who, action, keyARN); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.reason, got, tc.want)
		}
		if got := (Decision{Reason: tc.reason}).AccessDeniedMessage(who, action, keyARN); got != tc.want {
			t.Errorf("Decision %v:\n got %s\nwant %s", tc.reason, got, tc.want)
		}
	}
	if got := (Decision{Allowed: true, Reason: KeyPolicyAllows}).AccessDeniedMessage(who, action, keyARN); got != "" {
		t.Errorf("allowed decision has message %q", got)
	}
}

func TestDecisionExplains(t *testing.T) {
	kp := mustParse(t, doc(stmt(sid("Enable IAM User Permissions"), allow, rootAP, kmsAll, anyRes), stmt(sid("Alice"), allow, awsP(aliceARN), act("kms:Encrypt"), anyRes)))
	idp := mustParse(t, doc(stmt(sid("UseKeys"), allow, decrypt, anyRes)))
	deny := mustParse(t, doc(stmt(sid("Never"), `"Effect":"Deny"`, decrypt, anyRes)))
	req := func(who Request, action string) *Request {
		who.Action, who.Resource = action, keyARN
		return &who
	}
	tests := []struct {
		d    Decision
		want string
	}{
		{Decide(req(alice, "kms:Encrypt"), kp, nil, false), `allowed: allowed by the key policy, statement 1 ("Alice")`},
		{Decide(req(alice, "kms:Decrypt"), kp, []*Policy{idp}, false), `allowed: identity policy 0 statement 0 ("UseKeys"), through key policy statement 0 ("Enable IAM User Permissions")`},
		{Decide(req(rootA, "kms:Decrypt"), kp, nil, false), `allowed: the account root's own permissions, through key policy statement 0 ("Enable IAM User Permissions")`},
		{Decide(req(alice, "kms:Decrypt"), kp, []*Policy{idp, deny}, false), `denied: explicit deny in an identity-based policy, policy 1 statement 0 ("Never")`},
		{Decide(req(alice, "kms:Decrypt"), kp, nil, false), `denied: key policy statement 0 ("Enable IAM User Permissions") allows only through IAM, and no identity-based policy allows the action`},
		{Decide(req(bob, "kms:Decrypt"), kp, nil, false), "denied: no resource-based policy allows the action"},
		{Decide(req(bob, "kms:Decrypt"), kp, nil, true), "allowed: allowed by a grant"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	d := Decide(req(alice, "kms:Decrypt"), kp, []*Policy{idp, deny}, false)
	if d.Policy != 1 || d.Statement != 0 || d.Sid != "Never" {
		t.Fatalf("deciding statement: %+v", d)
	}
}

func TestCheckLockout(t *testing.T) {
	admin := doc(stmt(allow, awsP(aliceARN), act("kms:PutKeyPolicy", "kms:DescribeKey"), anyRes))
	tests := []struct {
		name     string
		policy   string
		identity []string
		who      Request
		ok       bool
	}{
		{"default policy and the root user", defaultKP, nil, rootA, true},
		{"default policy, user with IAM permission", defaultKP, []string{idAllow("kms:*")}, alice, true},
		{"default policy, user without IAM permission", defaultKP, nil, alice, false},
		{"policy naming the caller", admin, nil, alice, true},
		{"policy naming someone else", admin, nil, carol, false},
		{"policy denying PutKeyPolicy", doc(stmt(allow, rootAP, kmsAll, anyRes), stmt(deny, anyP, act("kms:PutKeyPolicy"), anyRes)), nil, rootA, false},
		{"identity deny on PutKeyPolicy", defaultKP, []string{idAllow("kms:*"), doc(stmt(deny, act("kms:Put*"), anyRes))}, alice, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseKeyPolicy(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			var ids []*Policy
			for _, d := range tc.identity {
				ids = append(ids, mustParse(t, d))
			}
			r := tc.who
			r.Resource = keyARN
			err = CheckLockout(r, p, ids)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckLockout = %v, want ok %v", err, tc.ok)
			}
			var me *MalformedError
			if err != nil && (!errors.As(err, &me) || me.Message != MsgLockout) {
				t.Fatalf("error %v, want %q", err, MsgLockout)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	long := strings.Repeat("a", 700) + "b"
	tests := []struct {
		pattern string
		mode    globMode
		s       string
		want    bool
	}{
		{"*", modeString, "", true},
		{"", modeString, "", true},
		{"", modeString, "x", false},
		{"a*b*c", modeString, "aXbYc", true},
		{"a*b*c", modeString, "aXbY", false},
		{"*a*a*a*a*a*a*b", modeString, strings.Repeat("a", 200), false},
		{"*a*a*a*a*a*a*b", modeString, strings.Repeat("a", 200) + "b", true},
		{"*b", modeString, long, true},
		{"a*a?b", modeString, long, true},
		{"?", modeString, "é", true},
		{"??", modeString, "é", false},
		{"x?z", modeString, "x:z", true},
		{"x?z", modeResource, "x:z", false},
		{"a*:b", modeResource, "a1:2:b", true},
		{"a*1:b", modeResource, "a0:1:b", false},
		{"arn:aws:s3:::b/*", modeResource, "arn:aws:s3:::b/x:y", true},
		{"arn:aws:s3:::b/*x", modeResource, "arn:aws:s3:::b/a:x", false},
		{"arn:aws:iam::*:role/*", modeARN, "arn:aws:iam::111122223333:role/a/b", true},
		{"arn:aws:iam::*:role/*", modeARN, "arn:aws:iam::1:2:role/a", false},
		{"arn:*:iam::1:role/x", modeARN, "arn:aws:iam::1:role/x", true},
		{"arn:*:iam::1:role/x", modeARN, "arn:a:b:iam::1:role/x", false},
		{"a*", modeLiteral, "a*", true},
		{"a*", modeLiteral, "ab", false},
	}
	for _, tc := range tests {
		p := compilePattern(tc.pattern, tc.mode, true, false)
		if got := p.match(tc.s, &Request{}); got != tc.want {
			t.Errorf("%q (mode %d) vs %q: got %v", tc.pattern, tc.mode, tc.s, got)
		}
	}
}

func TestSetEncryptionContext(t *testing.T) {
	c := Context{}
	c.SetEncryptionContext(map[string]string{"Dept": "IT", "app": "x"})
	if got := c["kms:encryptioncontext:dept"]; len(got) != 1 || got[0] != "IT" {
		t.Fatalf("dept = %q", got)
	}
	if got := c["kms:encryptioncontextkeys"]; len(got) != 2 || got[0] != "Dept" || got[1] != "app" {
		t.Fatalf("keys = %q", got)
	}
	c = Context{}
	c.SetEncryptionContext(nil)
	if len(c) != 0 {
		t.Fatalf("empty context set %v", c)
	}
	c.Set("AWS:SourceIp", "10.0.0.1")
	if c["aws:sourceip"][0] != "10.0.0.1" {
		t.Fatal("Set does not lower-case the key")
	}
}

func TestDecideIdentity(t *testing.T) {
	allowKeys := mustParse(t, doc(stmt(sid("Create"), allow, act("kms:CreateKey", "kms:List*"), anyRes)))
	denyCreate := mustParse(t, doc(stmt(deny, act("kms:CreateKey"), anyRes)))
	tests := []struct {
		who      Request
		action   string
		identity []*Policy
		want     Reason
		explain  string
	}{
		{alice, "kms:CreateKey", []*Policy{allowKeys}, IdentityPolicyAllows, `allowed: identity policy 0 statement 0 ("Create")`},
		{alice, "kms:ListAliases", []*Policy{allowKeys}, IdentityPolicyAllows, `allowed: identity policy 0 statement 0 ("Create")`},
		{alice, "kms:GenerateRandom", []*Policy{allowKeys}, NoIdentityPolicyAllows, "denied: no identity-based policy allows the action"},
		{alice, "kms:CreateKey", []*Policy{allowKeys, denyCreate}, IdentityPolicyDenies, "denied: explicit deny in an identity-based policy, policy 1 statement 0"},
		{alice, "kms:CreateKey", nil, NoIdentityPolicyAllows, "denied: no identity-based policy allows the action"},
		{rootA, "kms:CreateKey", nil, IdentityPolicyAllows, "allowed: the account root's own permissions"},
	}
	for _, tc := range tests {
		r := tc.who
		r.Action, r.Resource = tc.action, "*"
		d := DecideIdentity(&r, tc.identity)
		if d.Reason != tc.want || d.Allowed != allowedReason(tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.who.Principal, tc.action, d.Reason, tc.want)
		}
		if got := d.String(); got != tc.explain {
			t.Errorf("%s %s: explained %q, want %q", tc.who.Principal, tc.action, got, tc.explain)
		}
	}
	d := DecideIdentity(&Request{Principal: aliceARN, Account: acctA, Type: User, Action: "kms:CreateKey", Resource: "*"}, nil)
	want := "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action"
	if got := d.AccessDeniedMessage(aliceARN, "kms:CreateKey", "*"); got != want {
		t.Fatalf("message %q", got)
	}
}

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		in      string
		typ     PrincipalType
		account string
		ok      bool
	}{
		{rootAARN, Root, acctA, true},
		{aliceARN, User, acctA, true},
		{"arn:aws:iam::111122223333:user/div/alice", User, acctA, true},
		{sessARN, AssumedRole, acctA, true},
		{fedARN, FederatedUser, acctA, true},
		{"arn:aws-cn:iam::444455556666:root", Root, acctB, true},
		{ec2Svc, Service, "", true},
		{roleARN, Anonymous, "", false},
		{"arn:aws:iam::111122223333:user/", Anonymous, "", false},
		{"arn:aws:sts::111122223333:assumed-role/Admin", Anonymous, "", false},
		{"arn:aws:iam::1111:root", Anonymous, "", false},
		{"arn:aws:iam:us-east-1:111122223333:root", Anonymous, "", false},
		{"alice", Anonymous, "", false},
		{"", Anonymous, "", false},
	}
	for _, tc := range tests {
		typ, acct, ok := ParsePrincipal(tc.in)
		if ok != tc.ok || (ok && (typ != tc.typ || acct != tc.account)) {
			t.Errorf("ParsePrincipal(%q) = %v %q %v, want %v %q %v", tc.in, typ, acct, ok, tc.typ, tc.account, tc.ok)
		}
	}
}
