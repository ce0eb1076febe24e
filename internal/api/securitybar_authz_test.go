package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const lockoutMessage = "The new key policy will not allow you to update the key policy in the future."

// policyOf is a key policy document of the given statements.
func barPolicy(statements ...string) string {
	doc := `{"Version":"2012-10-17","Statement":[`
	for i, s := range statements {
		if i > 0 {
			doc += ","
		}
		doc += s
	}
	return doc + `]}`
}

const rootStatement = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"` + rootA + `"},"Action":"kms:*","Resource":"*"}`

// TestBarLockoutCheckOnTheWire is check 10 through the SDK: a policy that
// would take PutKeyPolicy away from its caller is refused with AWS's
// message, at CreateKey and PutKeyPolicy, and changes nothing; the same
// request with BypassPolicyLockoutSafetyCheck succeeds.
func TestBarLockoutCheckOnTheWire(t *testing.T) {
	s := startBarServer(t, barOptions{})
	root := s.as(rootA)
	lockout := barPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + rootB + `"},"Action":"kms:*","Resource":"*"}`)

	_, err := root.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(lockout)})
	wantError(t, err, "MalformedPolicyDocumentException", lockoutMessage)
	if keys, err := root.ListKeys(bg, &kms.ListKeysInput{}); err != nil || len(keys.Keys) != 0 {
		t.Fatalf("a refused CreateKey left keys behind: %v %+v", err, keys)
	}

	id := aws.ToString(s.createKey("lockout").KeyId)
	before, err := root.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(lockout)})
	wantError(t, err, "MalformedPolicyDocumentException", lockoutMessage)
	// Other refusals: a statement without a principal, a character outside
	// tab, LF, CR and U+0020-U+00FF (the API model's pattern, so a
	// ValidationException), a policy over 32768 bytes.
	for name, tc := range map[string]struct{ doc, code string }{
		"no principal":     {barPolicy(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`), "MalformedPolicyDocumentException"},
		"character":        {barPolicy(`{"Sid":"` + "\u20ac" + `","Effect":"Allow","Principal":{"AWS":"` + rootA + `"},"Action":"kms:*","Resource":"*"}`), "ValidationException"}, // the model's pattern
		"over 32768 bytes": {bigPolicy(32769), "LimitExceededException"},
	} {
		_, err = root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(tc.doc)})
		if msg := wantCode(t, err, tc.code); msg == "" {
			t.Errorf("%s: %s with no message", name, tc.code)
		}
	}
	after, err := root.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
	if err != nil || aws.ToString(after.Policy) != aws.ToString(before.Policy) {
		t.Fatalf("refused PutKeyPolicy calls changed the policy: %v\n%s", err, aws.ToString(after.Policy))
	}

	// Bypassed, the lockout policy is taken, and the caller is locked out.
	if _, err := root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(lockout), BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatalf("PutKeyPolicy with the check bypassed: %v", err)
	}
	_, err = root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: before.Policy})
	wantCode(t, err, "AccessDeniedException")
	if _, err := s.as(rootB).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(keyARN(testRegion, id))}); err != nil {
		t.Fatalf("the principal the new policy names: %v", err)
	}
}

// TestBarBypassCanBeDenied is the rest of check 10: a key policy denying
// kms:PutKeyPolicy when kms:BypassPolicyLockoutSafetyCheck is true refuses
// the bypass, and only the bypass.
func TestBarBypassCanBeDenied(t *testing.T) {
	s := startBarServer(t, barOptions{})
	root := s.as(rootA)
	lockout := barPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + rootB + `"},"Action":"kms:*","Resource":"*"}`)
	noBypass := barPolicy(rootStatement, `{"Sid":"NoBypass","Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*",
 "Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}}`)
	ck, err := root.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(noBypass)})
	if err != nil {
		t.Fatal(err)
	}
	guarded := ck.KeyMetadata.KeyId
	_, err = root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: guarded, Policy: aws.String(lockout), BypassPolicyLockoutSafetyCheck: true})
	wantError(t, err, "AccessDeniedException", "User: "+rootA+" is not authorized to perform: kms:PutKeyPolicy on resource: "+
		aws.ToString(ck.KeyMetadata.Arn)+" with an explicit deny in a resource-based policy")
	if _, err := root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: guarded, Policy: aws.String(noBypass)}); err != nil {
		t.Fatalf("PutKeyPolicy without the bypass under the NoBypass statement: %v", err)
	}
}

// wantEncrypt checks an Encrypt by c through keyID: allowed when want is
// empty, else refused with the exception want.
func wantEncrypt(t *testing.T, c *kms.Client, keyID, want string) {
	t.Helper()
	_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	if want == "" {
		if err != nil {
			t.Fatalf("Encrypt with %s: %v", keyID, err)
		}
		return
	}
	wantCode(t, err, want)
}

// TestBarRevocationIsImmediate is check 12 on the embedded store: after
// DisableKey, PutKeyPolicy removing an Allow, UntagResource (ABAC),
// DeleteAlias (kms:RequestAlias) and RevokeGrant,
// the very next request, from another client on its own connection, sees
// the change. kmsd is strongly consistent where AWS allows minutes.
func TestBarRevocationIsImmediate(t *testing.T) {
	s := startBarServer(t, barOptions{identities: identityPolicies{
		aliceA: {`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]}`},
	}})
	root := s.as(rootA)
	alice := func() *kms.Client { return s.as(aliceA) } // a new connection pool per request
	aliceStatement := `{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"` + aliceA + `"},"Action":"kms:Encrypt","Resource":"*"}`
	newKey := func(statements ...string) string {
		t.Helper()
		ck, err := root.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(barPolicy(append([]string{rootStatement}, statements...)...))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(ck.KeyMetadata.Arn)
	}

	t.Run("DisableKey", func(t *testing.T) {
		k := newKey(aliceStatement)
		wantEncrypt(t, alice(), k, "")
		s.disable(k)
		wantEncrypt(t, alice(), k, "DisabledException")
	})
	t.Run("PutKeyPolicy", func(t *testing.T) {
		k := newKey(aliceStatement)
		wantEncrypt(t, alice(), k, "")
		if _, err := root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(k), Policy: aws.String(barPolicy(rootStatement))}); err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), k, "AccessDeniedException")
	})
	t.Run("UntagResource", func(t *testing.T) {
		k := newKey()
		wantEncrypt(t, alice(), k, "AccessDeniedException")
		if _, err := root.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(k), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("blue")}}}); err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), k, "")
		if _, err := root.UntagResource(bg, &kms.UntagResourceInput{KeyId: aws.String(k), TagKeys: []string{"team"}}); err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), k, "AccessDeniedException")
	})
	t.Run("DeleteAlias and kms:RequestAlias", func(t *testing.T) {
		k := newKey(`{"Sid":"ByAlias","Effect":"Allow","Principal":{"AWS":"` + aliceA + `"},"Action":"kms:Encrypt","Resource":"*",
 "Condition":{"StringEquals":{"kms:RequestAlias":"alias/front-door"}}}`)
		s.createAlias("alias/front-door", k)
		wantEncrypt(t, alice(), "alias/front-door", "")
		// kms:RequestAlias is the alias the request names, not any alias of the key.
		wantEncrypt(t, alice(), k, "AccessDeniedException")
		if _, err := root.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/front-door")}); err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), "alias/front-door", "NotFoundException")
		// The alias name pointed at another key now reaches only that key.
		other := newKey()
		s.createAlias("alias/front-door", other)
		wantEncrypt(t, alice(), "alias/front-door", "AccessDeniedException")
	})
	t.Run("RevokeGrant", func(t *testing.T) {
		k := newKey()
		g, err := root.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(k), GranteePrincipal: aws.String(aliceA), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		if err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), k, "")
		if _, err := root.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: aws.String(k), GrantId: g.GrantId}); err != nil {
			t.Fatal(err)
		}
		wantEncrypt(t, alice(), k, "AccessDeniedException")
		// The revoked grant's token grants nothing either.
		_, err = alice().Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k), Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g.GrantToken)}})
		wantCode(t, err, "AccessDeniedException")
	})
}
