package policy

import "testing"

// TestWithoutPrincipals: the copy covers none of the dropped principals,
// in Principal or NotPrincipal, keeps every other principal and the
// statement indices, and leaves the original as it was.
func TestWithoutPrincipals(t *testing.T) {
	p, err := ParseKeyPolicy(doc(
		`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"`+acctA+`"},"Action":"kms:*","Resource":"*"}`,
		`{"Sid":"Use","Effect":"Allow","Principal":{"AWS":["`+aliceARN+`","`+roleARN+`","`+carolARN+`"]},"Action":"kms:Decrypt","Resource":"*"}`,
		`{"Sid":"OnlyCarol","Effect":"Deny","NotPrincipal":{"AWS":["`+carolARN+`","`+rootAARN+`"]},"Action":"kms:Sign","Resource":"*"}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]bool{aliceARN: true, roleARN: true, carolARN: true}
	q := p.WithoutPrincipals(func(v string) bool { return dropped[v] })
	at := func(r Request, action string) *Request {
		r.Action, r.Resource = action, keyARN
		return &r
	}
	for _, tc := range []struct {
		name       string
		pol        *Policy
		r          *Request
		allowed    bool
		stmt       int // the deciding statement; -1: not checked
		identities []*Policy
	}{
		{"alice by name", p, at(alice, "kms:Decrypt"), true, 1, nil},
		{"alice dropped", q, at(alice, "kms:Decrypt"), false, -1, nil},
		{"a session of the role by name", p, at(sess, "kms:Decrypt"), true, 1, nil},
		{"a session of the dropped role", q, at(sess, "kms:Decrypt"), false, -1, nil},
		{"the root is kept", q, at(rootA, "kms:Decrypt"), true, -1, nil},
		{"carol is excluded from the Deny", p, at(carol, "kms:Sign"), true, 0, []*Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Sign","Resource":"*"}]}`)}},
		{"dropped, carol is denied like anyone", q, at(carol, "kms:Sign"), false, 2, []*Policy{mustIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Sign","Resource":"*"}]}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.r, tc.pol, tc.identities, false)
			if d.Allowed != tc.allowed || tc.stmt >= 0 && d.Statement != tc.stmt {
				t.Fatalf("decision %+v, want allowed=%v by statement %d", d, tc.allowed, tc.stmt)
			}
		})
	}
	if q.Len() != p.Len() || len(q.Principals()) != len(p.Principals()) {
		t.Fatalf("the copy has %d statements and %d principals, the original %d and %d", q.Len(), len(q.Principals()), p.Len(), len(p.Principals()))
	}
}

func mustIdentity(t *testing.T, d string) *Policy {
	t.Helper()
	p, err := ParseIdentityPolicy(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
