package identity

import (
	"context"
	"testing"
)

func TestDefaultTrust(t *testing.T) {
	alice := Principal{Type: TypeIAMUser, AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice"}
	session := Principal{Type: TypeAssumedRole, AccountID: "111122223333", ARN: "arn:aws:sts::111122223333:assumed-role/ci/s1",
		RoleARN: "arn:aws:iam::111122223333:role/ci"}
	other := Principal{Type: TypeIAMUser, AccountID: "444455556666", ARN: "arn:aws:iam::444455556666:user/alice"}
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	for _, tc := range []struct {
		name   string
		doc    string
		caller Principal
		want   bool
	}{
		{"user ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}`), alice, true},
		{"account root ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), alice, true},
		{"bare account id", stmt(`{"Effect":"Allow","Principal":{"AWS":["111122223333"]},"Action":["sts:AssumeRole"]}`), alice, true},
		{"star principal", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), other, true},
		{"AWS star", stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:Assume*"}`), other, true},
		{"action wildcard", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"STS:*"}`), alice, true},
		{"action ?", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRol?"}`), alice, true},
		{"role of a session", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"sts:AssumeRole"}`), session, true},
		{"session ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/ci/s1"},"Action":"sts:AssumeRole"}`), session, true},
		{"another user", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"sts:AssumeRole"}`), alice, false},
		{"another account", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), other, false},
		{"other action", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRoleWithSAML"}`), alice, false},
		{"service principal", stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`), alice, false},
		{"conditional allow is not evaluated", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}`), alice, false},
		{"deny wins", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*"}`), alice, false},
		{"deny of someone else", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*"}`), alice, true},
		{"NotPrincipal deny refuses", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"*"}`), alice, false},
		{"malformed", `{`, alice, false},
	} {
		got, err := DefaultTrust{}.Trusts(context.Background(), &TrustRequest{Role: &Role{AssumeRolePolicyDocument: tc.doc}, Caller: tc.caller})
		if err != nil || got != tc.want {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "sts:assumerole", true},
		{"sts:*", "sts:assumerole", true},
		{"sts:assume*", "sts:assumerole", true},
		{"*role", "sts:assumerole", true},
		{"s*s:a*e*e", "sts:assumerole", true},
		{"sts:assumerol?", "sts:assumerole", true},
		{"sts:assumerole?", "sts:assumerole", false},
		{"sts:assume", "sts:assumerole", false},
		{"kms:*", "sts:assumerole", false},
		{"*x*", "sts:assumerole", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := wildcardMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}
