package policy

import (
	"encoding/json"
	"testing"
)

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

func TestReplaceAWSPrincipals(t *testing.T) {
	repl := map[string]string{"arn:aws:iam::111122223333:user/alice": "AIDAALICE000000000001", "arn:aws:iam::111122223333:role/App": "AROAAPP00000000000001"}
	for _, tc := range []struct{ name, in, want string }{
		{"string, spacing kept",
			`{ "Statement" : { "Principal" : { "AWS" :  "arn:aws:iam::111122223333:user/alice" } } }`,
			`{ "Statement" : { "Principal" : { "AWS" :  "AIDAALICE000000000001" } } }`},
		{"list in a statement list",
			"{\"Statement\":[{\"Principal\":{\"AWS\":[\n  \"arn:aws:iam::111122223333:root\",\n  \"arn:aws:iam::111122223333:role/App\"\n]}}]}",
			"{\"Statement\":[{\"Principal\":{\"AWS\":[\n  \"arn:aws:iam::111122223333:root\",\n  \"AROAAPP00000000000001\"\n]}}]}"},
		{"NotPrincipal and an escaped slash",
			`{"Statement":[{"NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user\/alice"}}]}`,
			`{"Statement":[{"NotPrincipal":{"AWS":"AIDAALICE000000000001"}}]}`},
		{"the same ARN elsewhere is left alone",
			`{"Statement":[{"Principal":{"Service":"arn:aws:iam::111122223333:user/alice"},"Resource":"arn:aws:iam::111122223333:user/alice",` +
				`"Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/App"}}}],"Id":"arn:aws:iam::111122223333:user/alice"}`,
			`{"Statement":[{"Principal":{"Service":"arn:aws:iam::111122223333:user/alice"},"Resource":"arn:aws:iam::111122223333:user/alice",` +
				`"Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/App"}}}],"Id":"arn:aws:iam::111122223333:user/alice"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceAWSPrincipals(tc.in, repl)
			if err != nil || got != tc.want {
				t.Fatalf("got %v\n%s\nwant\n%s", err, got, tc.want)
			}
		})
	}
}

// FuzzReplaceAWSPrincipals: any document that is JSON comes back as JSON,
// unchanged when nothing is to be replaced.
func FuzzReplaceAWSPrincipals(f *testing.F) {
	f.Add(`{"Statement":[{"Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","x"]}}]}`)
	f.Add(`{"Statement":{"NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"}},"Version":"2012-10-17"}`)
	f.Add(`[{"Statement":{"Principal":{"AWS":{"AWS":"arn:aws:iam::111122223333:user/alice"}}}}]`)
	f.Add(`{"Statement":[{"Principal":"*"}], "a": [1, true, null, {"b": "c"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		got, err := ReplaceAWSPrincipals(doc, map[string]string{"arn:aws:iam::111122223333:user/alice": "AIDAALICE000000000001"})
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("%s became invalid JSON: %s", doc, got)
		}
		if same, err := ReplaceAWSPrincipals(doc, nil); err != nil || same != doc {
			t.Fatalf("nothing to replace, yet %q became %q (%v)", doc, same, err)
		}
	})
}

func TestBindingKeys(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:iam::111122223333:user/eng/alice": "arn:aws:iam::111122223333:user/eng/alice",
		"arn:aws:iam::111122223333:role/team/App":  "arn:aws:sts::111122223333:assumed-role/App/",
		"arn:aws-cn:iam::111122223333:role/App":    "arn:aws-cn:sts::111122223333:assumed-role/App/",
		"not an arn":                               "not an arn",
	} {
		if got := BindingKey(arn); got != want {
			t.Errorf("BindingKey(%s) = %s, want %s", arn, got, want)
		}
	}
	for _, tc := range []struct{ arn, pid, key, id string }{
		{"arn:aws:iam::111122223333:user/eng/alice", "AIDAALICE", "arn:aws:iam::111122223333:user/eng/alice", "AIDAALICE"},
		{"arn:aws:sts::111122223333:assumed-role/App/s1", "AROAAPP:s1", "arn:aws:sts::111122223333:assumed-role/App/", "AROAAPP"},
		{"arn:aws:iam::111122223333:root", "111122223333", "arn:aws:iam::111122223333:root", "111122223333"},
	} {
		if key, id := CallerKey(tc.arn, tc.pid); key != tc.key || id != tc.id {
			t.Errorf("CallerKey(%s, %s) = %s, %s; want %s, %s", tc.arn, tc.pid, key, id, tc.key, tc.id)
		}
	}
}
