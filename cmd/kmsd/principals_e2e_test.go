package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// keyPolicyOf returns the key's policy as GetKeyPolicy shows it.
func keyPolicyOf(t *testing.T, c clients, keyID string) string {
	t.Helper()
	out, err := c.kms.GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Policy
}

func wantMalformedPrincipals(t *testing.T, err error) {
	t.Helper()
	var ae smithy.APIError
	const msg = "Policy contains a statement with one or more invalid principals."
	if !errors.As(err, &ae) || ae.ErrorCode() != "MalformedPolicyDocumentException" || ae.ErrorMessage() != msg {
		t.Fatalf("got %v, want MalformedPolicyDocumentException %q", err, msg)
	}
}

// TestKeyPolicyPrincipalsAreBoundByUniqueID runs `kmsd dev --enforce` and
// checks, with the AWS SDK and CLI, that a key policy names a user or role
// of its account by the principal, not the name, as AWS does: a principal
// that does not exist is refused; GetKeyPolicy shows the policy as put
// while its principals exist and the bare unique id of one deleted; a user
// or role deleted and recreated under the same name does not get the old
// one's access until the policy is put again; other accounts' principals,
// service principals and session ARNs are kept as written.
func TestKeyPolicyPrincipalsAreBoundByUniqueID(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--enforce", "--data", data)
	root := p.as(docKey, docSecret, "")
	arn := func(kind, name string) string { return "arn:aws:iam::" + acctA + ":" + kind + "/" + name }
	policyNaming := func(extra ...string) string {
		return `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + acctA + `:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Users", "Effect": "Allow", "Principal": {"AWS": [` + strings.Join(extra, ", ") + `]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
    {"Sid": "Service", "Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"}, "Action": "kms:Encrypt", "Resource": "*"}
  ]
}`
	}
	q := func(s string) string { return `"` + s + `"` }

	// A user or role of the key's account that does not exist is refused,
	// on CreateKey and on PutKeyPolicy, and the policy stays as it was.
	_, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policyNaming(q(arn("user", "ghost"))))})
	wantMalformedPrincipals(t, err)
	_, err = root.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policyNaming(q(arn("role", "ghost"))))})
	wantMalformedPrincipals(t, err)

	// ops may assume the role app; alice is a user with no IAM policy, so
	// only the key policy lets her use the key.
	ops := newUser(t, p, root, "ops", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + arn("user", "ops") + `"},"Action":"sts:AssumeRole"}]}`
	createApp := func() string {
		t.Helper()
		r, err := root.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: aws.String(trust)})
		if err != nil {
			t.Fatal(err)
		}
		return *r.Role.RoleId
	}
	appSession := func() clients {
		t.Helper()
		as, err := ops.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn("role", "app")), RoleSessionName: aws.String("worker")})
		if err != nil {
			t.Fatal(err)
		}
		return p.as(*as.Credentials.AccessKeyId, *as.Credentials.SecretAccessKey, *as.Credentials.SessionToken)
	}
	createAlice := func() (clients, string) {
		t.Helper()
		u, err := root.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		k, err := root.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		return p.as(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, ""), *u.User.UserId
	}
	deleteAlice := func() {
		t.Helper()
		keys, err := root.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.AccessKeyMetadata {
			if _, err := root.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKeyId}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := root.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}); err != nil {
			t.Fatal(err)
		}
	}
	appID := createApp()
	alice, aliceID := createAlice()
	if len(aliceID) != 21 || !strings.HasPrefix(aliceID, "AIDA") || len(appID) != 21 || !strings.HasPrefix(appID, "AROA") {
		t.Fatalf("unique ids %s and %s are not AWS's shape", aliceID, appID)
	}

	const otherUser = "arn:aws:iam::" + acctB + ":user/partner" // another account's: kept as written
	const session = "arn:aws:sts::" + acctA + ":assumed-role/app/fixed"
	doc := policyNaming(q(arn("user", "alice")), q(arn("role", "app")), q(otherUser), q(session))
	key, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(doc)})
	if err != nil {
		t.Fatal(err)
	}
	keyID := *key.KeyMetadata.KeyId
	if got := keyPolicyOf(t, root, keyID); got != doc {
		t.Fatalf("GetKeyPolicy while every principal exists:\n%s\nwant the policy as put:\n%s", got, doc)
	}
	enc, err := alice.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hers")})
	if err != nil {
		t.Fatalf("alice, named by the key policy: %v", err)
	}
	if _, err := appSession().kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("a session of app, named by the key policy: %v", err)
	}

	// PutKeyPolicy naming a missing principal changes nothing.
	_, err = root.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"),
		Policy: aws.String(policyNaming(q(arn("user", "alice")), q(arn("user", "ghost"))))})
	wantMalformedPrincipals(t, err)
	if got := keyPolicyOf(t, root, keyID); got != doc {
		t.Fatalf("a refused PutKeyPolicy changed the policy:\n%s", got)
	}

	// alice and app are deleted and recreated under the same names.
	deleteAlice()
	if _, err := root.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	orphaned := strings.NewReplacer(q(arn("user", "alice")), q(aliceID), q(arn("role", "app")), q(appID)).Replace(doc)
	if got := keyPolicyOf(t, root, keyID); got != orphaned {
		t.Fatalf("GetKeyPolicy after the principals were deleted:\n%s\nwant their unique ids in place of their ARNs:\n%s", got, orphaned)
	}
	newAppID := createApp()
	newAlice, newAliceID := createAlice()
	if newAliceID == aliceID || newAppID == appID {
		t.Fatal("a recreated principal got its predecessor's unique id")
	}
	denied := func(c clients, who string) {
		t.Helper()
		_, err := c.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
		wantDenied(t, err, "because no identity-based policy allows the kms:Encrypt action")
		_, err = c.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if errCode(err) != "AccessDeniedException" {
			t.Fatalf("%s decrypted the old one's ciphertext: %v", who, err)
		}
	}
	denied(newAlice, "the new alice")
	denied(appSession(), "a session of the new app")
	if got := keyPolicyOf(t, root, keyID); got != orphaned {
		t.Fatalf("GetKeyPolicy after the names were reused:\n%s\nwant the old principals' ids:\n%s", got, orphaned)
	}

	// The AWS CLI shows the same document.
	cli := exec.Command("aws", "--endpoint-url", p.url, "kms", "get-key-policy", "--key-id", keyID, "--policy-name", "default", "--query", "Policy", "--output", "text")
	cli.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+docKey, "AWS_SECRET_ACCESS_KEY="+docSecret, "AWS_SESSION_TOKEN=", "AWS_DEFAULT_REGION=us-east-1")
	out, err := cli.CombinedOutput()
	if err != nil || strings.TrimSuffix(string(out), "\n") != orphaned {
		t.Fatalf("aws kms get-key-policy: %v\n%s\nwant:\n%s", err, out, orphaned)
	}

	// A policy naming a bare unique id is refused, as AWS refuses one
	// holding the id of a deleted principal.
	_, err = root.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"), Policy: aws.String(orphaned)})
	wantMalformedPrincipals(t, err)

	// Putting the policy again binds the names to the new principals.
	if _, err := root.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := newAlice.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("the new alice after the policy was put again: %v", err)
	}
	if _, err := appSession().kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("a session of the new app after the policy was put again: %v", err)
	}
	if got := keyPolicyOf(t, root, keyID); got != doc {
		t.Fatalf("GetKeyPolicy after the policy was put again:\n%s", got)
	}
}

// TestDenyBoundToTheDeletedPrincipal checks that a Deny naming a user
// stays with that user: a user recreated under the same name is not
// refused by it, while the account's IAM policies still decide for them,
// and `kmsd admin explain` agrees.
func TestDenyBoundToTheDeletedPrincipal(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--enforce", "--data", data)
	root := p.as(docKey, docSecret, "")
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	bob := newUser(t, p, root, "bob", allowAll)
	bobARN := "arn:aws:iam::" + acctA + ":user/bob"
	doc := `{"Version":"2012-10-17","Statement":[
 {"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"NotBob","Effect":"Deny","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	key, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(doc)})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := *key.KeyMetadata.Arn
	_, err = bob.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x")})
	wantDenied(t, err, "with an explicit deny in a resource-based policy")

	keys, err := root.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error {
			_, err := root.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: keys.AccessKeyMetadata[0].AccessKeyId})
			return err
		},
		func() error {
			_, err := root.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("p")})
			return err
		},
		func() error {
			_, err := root.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	newBob := newUser(t, p, root, "bob", allowAll)
	if _, err := newBob.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("the Deny of the deleted bob refused the new one: %v", err)
	}

	p.stop()
	out, err := exec.Command(kmsdBin, "admin", "explain", "--data", data, "--principal", bobARN, "--action", "kms:Encrypt", "--key", keyARN).CombinedOutput()
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	if want := "ALLOWED: " + bobARN + " kms:Encrypt on " + keyARN + "\n"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("explain for the new bob:\n%s\nwant it to start with %q", out, want)
	}
}

// TestTrustPolicyBoundToTheDeletedUser runs `kmsd dev --enforce`, where
// trust policies are decided by the policy engine, and checks that a user
// recreated under a trusted user's name may not assume the role until its
// trust policy is saved again.
func TestTrustPolicyBoundToTheDeletedUser(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	root := p.as(docKey, docSecret, "")
	mayAssume := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`
	opsARN := "arn:aws:iam::" + acctA + ":user/ops"
	roleARN := "arn:aws:iam::" + acctA + ":role/deployer"
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + opsARN + `"},"Action":"sts:AssumeRole"}]}`
	_, err := root.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trust)})
	if errCode(err) != "MalformedPolicyDocument" {
		t.Fatalf("a trust policy naming a user that does not exist: %v", err)
	}
	ops := newUser(t, p, root, "ops", mayAssume)
	if _, err := root.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	assume := func(c clients) error {
		_, err := c.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
		return err
	}
	if err := assume(ops); err != nil {
		t.Fatal(err)
	}
	keys, err := root.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("ops")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("ops"), AccessKeyId: keys.AccessKeyMetadata[0].AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.iam.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("ops"), PolicyName: aws.String("p")}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.iam.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("ops")}); err != nil {
		t.Fatal(err)
	}
	newOps := newUser(t, p, root, "ops", mayAssume)
	if err := assume(newOps); errCode(err) != "AccessDenied" {
		t.Fatalf("the recreated ops assumed the role the old one was trusted for: %v", err)
	}
	if _, err := root.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"), PolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if err := assume(newOps); err != nil {
		t.Fatalf("after the trust policy was saved again: %v", err)
	}
}
