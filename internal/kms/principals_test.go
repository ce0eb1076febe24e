package kms

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// directory is an identity source that also knows which users and roles
// exist, by ARN, with their unique ids.
type directory struct {
	fakeIdentities
	ids map[string]string
}

func (d directory) PrincipalID(_ context.Context, arn string) (string, bool, error) {
	id, ok := d.ids[arn]
	return id, ok, nil
}

func directoryService(t *testing.T, d directory) *Service {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: PolicyAuthorizer{Identities: d}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func withID(c *Call, id string) *Call {
	c.Caller.PrincipalID = id
	return c
}

// TestKeyPolicyDecidesByUniqueID checks the decision for callers that bear
// a bound name with the bound id, with another id, and with none, for
// users and role sessions (also of a role with a path), and that a Deny
// follows its principal's id too.
func TestKeyPolicyDecidesByUniqueID(t *testing.T) {
	ctx := context.Background()
	arn := func(res string) string { return "arn:aws:iam::" + acct + ":" + res }
	d := directory{fakeIdentities: fakeIdentities{arn("user/mallory"): {allowAll("kms:Encrypt")}}, ids: map[string]string{
		arn("user/alice"):       "AIDAALICE000000000001",
		arn("user/mallory"):     "AIDAMALLORY0000000001",
		arn("role/App"):         "AROAAPP00000000000001",
		arn("role/team/Worker"): "AROAWORKER00000000001",
	}}
	svc := directoryService(t, d)
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	doc := `{"Version":"2012-10-17","Statement":[
 {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"` + acct + `"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Use","Effect":"Allow","Principal":{"AWS":["` + arn("user/alice") + `","` + arn("role/App") + `","` + arn("role/team/Worker") + `",
   "arn:aws:iam::` + other + `:user/partner","arn:aws:sts::` + acct + `:assumed-role/Gone/fixed"]},"Action":"kms:Encrypt","Resource":"*"},
 {"Sid":"NoMallory","Effect":"Deny","Principal":{"AWS":"` + arn("user/mallory") + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	ck, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{Policy: doc})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	for _, tc := range []struct {
		name    string
		c       *Call
		allowed bool
	}{
		{"the bound user", withID(userCall(acct, "alice"), "AIDAALICE000000000001"), true},
		{"a user recreated under the bound name", withID(userCall(acct, "alice"), "AIDAALICE000000000002"), false},
		{"a caller without an id", userCall(acct, "alice"), false},
		{"a session of the bound role", withID(sessionCall(acct, "App", "s1"), "AROAAPP00000000000001:s1"), true},
		{"a session of a role recreated under the bound name", withID(sessionCall(acct, "App", "s1"), "AROAAPP00000000000002:s1"), false},
		{"a session of the bound role with a path", withID(sessionCall(acct, "Worker", "s"), "AROAWORKER00000000001:s"), true},
		{"a session of another role of that name", withID(sessionCall(acct, "Worker", "s"), "AROAWORKER00000000002:s"), false},
		{"the denied user", withID(userCall(acct, "mallory"), "AIDAMALLORY0000000001"), false},
		{"a user recreated under the denied name", withID(userCall(acct, "mallory"), "AIDAMALLORY0000000002"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Encrypt(ctx, tc.c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
			if tc.allowed && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.allowed && kmserr.CodeOf(err) != kmserr.AccessDenied {
				t.Fatalf("got %v, want AccessDeniedException", err)
			}
		})
	}

	get := func() string {
		t.Helper()
		out, err := svc.GetKeyPolicy(ctx, root, &kmsapi.GetKeyPolicyInput{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		return out.Policy
	}
	if got := get(); got != doc {
		t.Fatalf("GetKeyPolicy:\n%s\nwant the policy as put", got)
	}
	delete(d.ids, arn("user/alice"))
	d.ids[arn("role/App")] = "AROAAPP00000000000002" // deleted and recreated
	want := strings.NewReplacer(`"`+arn("user/alice")+`"`, `"AIDAALICE000000000001"`, `"`+arn("role/App")+`"`, `"AROAAPP00000000000001"`).Replace(doc)
	if got := get(); got != want {
		t.Fatalf("GetKeyPolicy after alice and App went:\n%s\nwant:\n%s", got, want)
	}

	_, err = svc.PutKeyPolicy(ctx, root, &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: doc})
	if kmserr.CodeOf(err) != kmserr.MalformedPolicyDocument || err.(*kmserr.Error).Message != "Policy contains a statement with one or more invalid principals." {
		t.Fatalf("PutKeyPolicy naming a deleted user: %v", err)
	}
	if got := get(); got != want {
		t.Fatalf("a refused PutKeyPolicy changed the policy:\n%s", got)
	}
}

// TestPoliciesKeptAsWrittenWithoutADirectory: an authorizer that cannot
// resolve principals (kmsd dev without --enforce) keeps policies as
// written, naming users that do not exist.
func TestPoliciesKeptAsWrittenWithoutADirectory(t *testing.T) {
	ctx := context.Background()
	svc := policyService(t, nil)
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	doc := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/nobody"},"Action":"kms:Encrypt","Resource":"*"}]}`
	ck, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{Policy: doc})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.GetKeyPolicy(ctx, root, &kmsapi.GetKeyPolicyInput{KeyId: ck.KeyMetadata.KeyId})
	if err != nil || out.Policy != doc {
		t.Fatalf("GetKeyPolicy %v:\n%s", err, out.Policy)
	}
}

// TestPolicyForAllocatesNothing: choosing the policy a request is decided
// by is a map lookup, whatever the number of bound principals.
func TestPolicyForAllocatesNothing(t *testing.T) {
	var arns []string
	var bound []boundPrincipal
	for i := range 200 {
		a := fmt.Sprintf("arn:aws:iam::%s:user/u%d", acct, i)
		arns = append(arns, `"`+a+`"`)
		bound = append(bound, boundPrincipal{ARN: a, ID: fmt.Sprintf("AIDA%017d", i)})
	}
	p, err := policy.ParseKeyPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[` + strings.Join(arns, ",") + `]},"Action":"kms:*","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	v := &KeyView{KeyPolicy: p, bound: newBoundPolicy(p, bound)}
	genuine := withID(userCall(acct, "u150"), fmt.Sprintf("AIDA%017d", 150)).Caller
	namesake := withID(userCall(acct, "u150"), "AIDAXXXXXXXXXXXXXXXXX").Caller
	session := withID(sessionCall(acct, "App", "s"), "AROAXXXXXXXXXXXXXXXXX:s").Caller
	if v.policyFor(&genuine) != p || v.policyFor(&namesake) == p || v.policyFor(&session) != p {
		t.Fatal("policyFor chose the wrong policy")
	}
	for _, c := range []*Caller{&genuine, &namesake, &session} {
		if n := testing.AllocsPerRun(100, func() { _ = v.policyFor(c) }); n != 0 {
			t.Errorf("policyFor(%s) allocates %v times", c.PrincipalID, n)
		}
	}
}
