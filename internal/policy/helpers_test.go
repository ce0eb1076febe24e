package policy

import (
	"strings"
	"testing"
)

// Accounts, principals and the key that the tables use.
const (
	acctA  = "111122223333"
	acctB  = "444455556666"
	keyARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

	rootAARN = "arn:aws:iam::111122223333:root"
	rootBARN = "arn:aws:iam::444455556666:root"
	aliceARN = "arn:aws:iam::111122223333:user/alice"
	carolARN = "arn:aws:iam::111122223333:user/carol"
	bobARN   = "arn:aws:iam::444455556666:user/bob"
	roleARN  = "arn:aws:iam::111122223333:role/Admin"
	roleBARN = "arn:aws:iam::444455556666:role/Admin"
	sessARN  = "arn:aws:sts::111122223333:assumed-role/Admin/s1"
	fedARN   = "arn:aws:sts::111122223333:federated-user/dana"
	ec2Svc   = "ec2.amazonaws.com"
	otherKey = "arn:aws:kms:us-east-1:111122223333:key/other"
	keyBARN  = "arn:aws:kms:us-east-1:444455556666:key/kb"
	viaEC2   = "ec2.us-east-1.amazonaws.com"
)

var (
	alice  = Request{Principal: aliceARN, Account: acctA, Type: User, UserID: "AIDAALICE"}
	carol  = Request{Principal: carolARN, Account: acctA, Type: User, UserID: "AIDACAROL"}
	bob    = Request{Principal: bobARN, Account: acctB, Type: User, UserID: "AIDABOB"}
	rootA  = Request{Principal: rootAARN, Account: acctA, Type: Root}
	rootB  = Request{Principal: rootBARN, Account: acctB, Type: Root}
	sess   = Request{Principal: sessARN, Account: acctA, Type: AssumedRole, UserID: "AROAADMIN:s1"}
	fed    = Request{Principal: fedARN, Account: acctA, Type: FederatedUser}
	ec2    = Request{Principal: ec2Svc, Type: Service}
	nobody = Request{}
)

// Policy builders: each returns a JSON fragment.

func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func doc2008(stmts ...string) string {
	return `{"Version":"2008-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func stmt(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }

func list(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = `"` + v + `"`
	}
	return "[" + strings.Join(q, ",") + "]"
}

func sid(s string) string          { return `"Sid":"` + s + `"` }
func awsP(p ...string) string      { return `"Principal":{"AWS":` + list(p) + `}` }
func notAWS(p ...string) string    { return `"NotPrincipal":{"AWS":` + list(p) + `}` }
func svcP(p ...string) string      { return `"Principal":{"Service":` + list(p) + `}` }
func act(a ...string) string       { return `"Action":` + list(a) }
func notAct(a ...string) string    { return `"NotAction":` + list(a) }
func res(r ...string) string       { return `"Resource":` + list(r) }
func notRes(r ...string) string    { return `"NotResource":` + list(r) }
func cond(block string) string     { return `"Condition":` + block }
func idAllow(a ...string) string   { return doc(stmt(allow, act(a...), res("*"))) }
func idAllowOn(r, a string) string { return doc(stmt(allow, act(a), res(r))) }

const (
	allow    = `"Effect":"Allow"`
	deny     = `"Effect":"Deny"`
	anyP     = `"Principal":"*"`
	anyRes   = `"Resource":"*"`
	kmsAll   = `"Action":"kms:*"`
	decrypt  = `"Action":"kms:Decrypt"`
	rootAP   = `"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`
	acctIDAP = `"Principal":{"AWS":"111122223333"}`
)

// defaultKP is the key policy AWS gives a key created without one.
var defaultKP = `{"Version":"2012-10-17","Id":"key-default-1","Statement":[` +
	stmt(sid("Enable IAM User Permissions"), allow, rootAP, kmsAll, anyRes) + `]}`

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}
