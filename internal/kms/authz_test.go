package kms

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// fakeIdentities maps caller ARNs to identity policy documents.
type fakeIdentities map[string][]string

func (f fakeIdentities) IdentityPolicies(_ context.Context, c *Caller) ([]*policy.Policy, error) {
	var out []*policy.Policy
	for _, d := range f[c.ARN] {
		p, err := policy.ParseIdentityPolicy(d)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

const (
	acct  = "111122223333"
	other = "444455556666"
)

func userCall(account, name string) *Call {
	return &Call{Caller: Caller{AccountID: account, Region: "us-east-1", ARN: "arn:aws:iam::" + account + ":user/" + name, Type: "IAMUser", UserName: name}}
}

func sessionCall(account, role, session string) *Call {
	return &Call{Caller: Caller{AccountID: account, Region: "us-east-1", ARN: "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session, Type: "AssumedRole"}}
}

// policyService is a Service deciding with PolicyAuthorizer.
func policyService(t *testing.T, ids fakeIdentities) *Service {
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
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: PolicyAuthorizer{Identities: ids}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func allowAll(actions ...string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["` + strings.Join(actions, `","`) + `"],"Resource":"*"}]}`
}

// separationPolicy gives KeyAdmin the management actions and App the use of
// the key, by name, beside the account root.
func separationPolicy(account string) string {
	return `{"Version":"2012-10-17","Statement":[
 {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:role/KeyAdmin"},
  "Action":["kms:Describe*","kms:Put*","kms:Enable*","kms:Disable*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion","kms:TagResource","kms:GetKeyPolicy"],"Resource":"*"},
 {"Sid":"Users","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:role/App"},
  "Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*",
  "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}},
 {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + other + `:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"},
 {"Sid":"NoDeleteByApp","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*",
  "Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::` + account + `:role/App"}}}
]}`
}

func wantDenied(t *testing.T, err error, wantSuffix string) {
	t.Helper()
	if kmserr.CodeOf(err) != kmserr.AccessDenied {
		t.Fatalf("got %v, want AccessDeniedException", err)
	}
	if !strings.HasSuffix(err.(*kmserr.Error).Message, wantSuffix) {
		t.Fatalf("message %q does not end with %q", err.(*kmserr.Error).Message, wantSuffix)
	}
}

func TestPolicyAuthorizerSeparationOfDuties(t *testing.T) {
	ctx := context.Background()
	svc := policyService(t, fakeIdentities{
		"arn:aws:iam::" + other + ":user/partner": {allowAll("kms:Encrypt")},
	})
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	ck, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{Policy: separationPolicy(acct)})
	if err != nil {
		t.Fatal(err)
	}
	arn := ck.KeyMetadata.Arn
	admin := sessionCall(acct, "KeyAdmin", "alice")
	app := sessionCall(acct, "App", "worker-1")
	ec := map[string]string{"tenant": "acme"}

	// The admin manages the key but cannot use it.
	if _, err := svc.DisableKey(ctx, admin, &kmsapi.DisableKeyInput{KeyId: arn}); err != nil {
		t.Fatalf("KeyAdmin DisableKey: %v", err)
	}
	if _, err := svc.EnableKey(ctx, admin, &kmsapi.EnableKeyInput{KeyId: arn}); err != nil {
		t.Fatalf("KeyAdmin EnableKey: %v", err)
	}
	// The key policy names the admin role for management only; for
	// Encrypt it delegates to IAM through the root statement, and the role
	// has no identity policy.
	_, err = svc.Encrypt(ctx, admin, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x"), EncryptionContext: ec})
	wantDenied(t, err, "User: "+admin.Caller.ARN+" is not authorized to perform: kms:Encrypt on resource: "+arn+" because no identity-based policy allows the kms:Encrypt action")

	// The app uses the key, only with its encryption context, and can
	// neither delete the key nor change its policy.
	enc, err := svc.Encrypt(ctx, app, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x"), EncryptionContext: ec})
	if err != nil {
		t.Fatalf("App Encrypt: %v", err)
	}
	if _, err := svc.Decrypt(ctx, app, &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil {
		t.Fatalf("App Decrypt: %v", err)
	}
	_, err = svc.Encrypt(ctx, app, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "evil"}})
	wantDenied(t, err, "because no identity-based policy allows the kms:Encrypt action")
	_, err = svc.ScheduleKeyDeletion(ctx, app, &kmsapi.ScheduleKeyDeletionInput{KeyId: arn})
	wantDenied(t, err, "with an explicit deny in a resource-based policy")
	_, err = svc.PutKeyPolicy(ctx, app, &kmsapi.PutKeyPolicyInput{KeyId: arn, Policy: DefaultPolicy(acct)})
	wantDenied(t, err, "because no identity-based policy allows the kms:PutKeyPolicy action")

	// Another principal of the account has no identity policy: the key
	// policy's root statement delegates to IAM, which allows nothing.
	bob := userCall(acct, "bob")
	_, err = svc.Encrypt(ctx, bob, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x")})
	wantDenied(t, err, "because no identity-based policy allows the kms:Encrypt action")

	// Across accounts both sides must allow: the key policy names the
	// partner account, and the partner's own policy allows Encrypt only.
	partner := userCall(other, "partner")
	if _, err := svc.Encrypt(ctx, partner, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("partner Encrypt: %v", err)
	}
	_, err = svc.Decrypt(ctx, partner, &kmsapi.DecryptInput{KeyId: arn, CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantDenied(t, err, "because no identity-based policy allows the kms:Decrypt action")
	stranger := userCall("777788889999", "x")
	_, err = svc.Encrypt(ctx, stranger, &kmsapi.EncryptInput{KeyId: arn, Plaintext: []byte("x")})
	wantDenied(t, err, "because no resource-based policy allows the kms:Encrypt action")
}

func TestPolicyAuthorizerIdentityPolicies(t *testing.T) {
	ctx := context.Background()
	carol := "arn:aws:iam::" + acct + ":user/carol"
	svc := policyService(t, fakeIdentities{
		carol: {
			allowAll("kms:CreateKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:PutKeyPolicy"),
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:EncryptionContext:stage":"prod"}}}]}`,
		},
	})
	c := userCall(acct, "carol")
	// CreateKey is decided by identity policies; the default key policy
	// delegates the key's use to them.
	ck, err := svc.CreateKey(ctx, c, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	enc, err := svc.Encrypt(ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionContext: map[string]string{"stage": "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Decrypt(ctx, c, &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"stage": "dev"}})
	wantDenied(t, err, "with an explicit deny in an identity-based policy")
	_, err = svc.GenerateRandom(ctx, c, &kmsapi.GenerateRandomInput{NumberOfBytes: kmsapi.Int32(8)})
	wantDenied(t, err, "is not authorized to perform: kms:GenerateRandom on resource: * because no identity-based policy allows the kms:GenerateRandom action")

	// The lockout check: a policy that would take PutKeyPolicy away from
	// carol is refused, unless she bypasses the check.
	locking := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/dave"},"Action":"kms:*","Resource":"*"}]}`
	_, err = svc.PutKeyPolicy(ctx, c, &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: locking})
	wantCode(t, err, kmserr.MalformedPolicyDocument)
	if msg := err.(*kmserr.Error).Message; msg != policy.MsgLockout {
		t.Errorf("lockout message %q, want AWS's %q", msg, policy.MsgLockout)
	}
	if _, err := svc.PutKeyPolicy(ctx, c, &kmsapi.PutKeyPolicyInput{KeyId: id, Policy: locking, BypassPolicyLockoutSafetyCheck: kmsapi.Bool(true)}); err != nil {
		t.Fatalf("bypassed lockout check: %v", err)
	}
	// Now only dave may use the key.
	_, err = svc.DescribeKey(ctx, c, &kmsapi.DescribeKeyInput{KeyId: id})
	wantDenied(t, err, "because no resource-based policy allows the kms:DescribeKey action")
	_, err = svc.CreateKey(ctx, c, &kmsapi.CreateKeyInput{Policy: locking})
	wantCode(t, err, kmserr.MalformedPolicyDocument)
}

func TestKeyPoliciesAreValidated(t *testing.T) {
	ctx := context.Background()
	svc := policyService(t, nil)
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	for name, doc := range map[string]string{
		"not JSON":          `{`,
		"no statement":      `{"Version":"2012-10-17"}`,
		"bad effect":        `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
		"no principal":      `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
		"unknown operator":  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringSorta":{"a":"b"}}}]}`,
		"invalid principal": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"nobody"},"Action":"kms:*","Resource":"*"}]}`,
	} {
		_, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{Policy: doc})
		if kmserr.CodeOf(err) != kmserr.MalformedPolicyDocument {
			t.Errorf("%s: %v, want MalformedPolicyDocumentException", name, err)
		}
	}
	_, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Sid":"` + strings.Repeat("x", 33000) + `"}]}`})
	wantCode(t, err, kmserr.LimitExceeded)
}

// TestTagConditions: aws:RequestTag/<key> and aws:TagKeys restrict which
// tags a principal may set or remove.
func TestTagConditions(t *testing.T) {
	ctx := context.Background()
	tagger := "arn:aws:iam::" + acct + ":user/tagger"
	svc := policyService(t, fakeIdentities{tagger: {`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["kms:TagResource","kms:UntagResource"],"Resource":"*",
  "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}},
 {"Effect":"Deny","Action":"kms:TagResource","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}}}]}`}})
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	ck, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	c := userCall(acct, "tagger")
	if _, err := svc.TagResource(ctx, c, &kmsapi.TagResourceInput{KeyId: id, Tags: []kmsapi.Tag{{TagKey: "team", TagValue: "a"}, {TagKey: "env", TagValue: "dev"}}}); err != nil {
		t.Fatalf("allowed tags: %v", err)
	}
	_, err = svc.TagResource(ctx, userCall(acct, "tagger"), &kmsapi.TagResourceInput{KeyId: id, Tags: []kmsapi.Tag{{TagKey: "owner", TagValue: "x"}}})
	wantDenied(t, err, "because no identity-based policy allows the kms:TagResource action")
	_, err = svc.TagResource(ctx, userCall(acct, "tagger"), &kmsapi.TagResourceInput{KeyId: id, Tags: []kmsapi.Tag{{TagKey: "env", TagValue: "prod"}}})
	wantDenied(t, err, "with an explicit deny in an identity-based policy")
	if _, err := svc.UntagResource(ctx, userCall(acct, "tagger"), &kmsapi.UntagResourceInput{KeyId: id, TagKeys: []string{"env"}}); err != nil {
		t.Fatalf("allowed untag: %v", err)
	}
	_, err = svc.UntagResource(ctx, userCall(acct, "tagger"), &kmsapi.UntagResourceInput{KeyId: id, TagKeys: []string{"owner"}})
	wantDenied(t, err, "because no identity-based policy allows the kms:UntagResource action")
}

// TestExplainNamesTheGrant: when a grant decides, Explain names it.
func TestExplainNamesTheGrant(t *testing.T) {
	ctx := context.Background()
	a := PolicyAuthorizer{Identities: fakeIdentities{}}
	svc := policyService(t, nil)
	root := &Call{Caller: RootCaller(acct, "us-east-1")}
	ck, err := svc.CreateKey(ctx, root, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	erin := userCall(acct, "erin")
	g, err := svc.CreateGrant(ctx, root, &kmsapi.CreateGrantInput{KeyId: ck.KeyMetadata.KeyId, GranteePrincipal: erin.Caller.ARN,
		Operations: []kmsapi.GrantOperation{"Encrypt"}, Name: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := svc.Explain(ctx, a, erin.Caller, "kms:Encrypt", ck.KeyMetadata.KeyId, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Decision.Allowed || ex.Decision.Reason != policy.GrantAllows || ex.GrantID != g.GrantId || ex.GrantName != "nightly" {
		t.Fatalf("explanation %+v, want the grant %s", ex, g.GrantId)
	}
	ex, err = svc.Explain(ctx, a, erin.Caller, "kms:Decrypt", ck.KeyMetadata.KeyId, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Decision.Allowed || ex.GrantID != "" || !strings.HasSuffix(ex.Message, "because no identity-based policy allows the kms:Decrypt action") {
		t.Fatalf("explanation of an ungranted operation: %+v", ex)
	}
}
