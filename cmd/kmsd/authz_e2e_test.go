package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

const (
	docKey    = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	acctA     = "111122223333"
	acctB     = "444455556666"
)

// clients are the SDK clients of one set of credentials.
type clients struct {
	kms *kms.Client
	iam *iam.Client
	sts *sts.Client
}

func (p *proc) as(akid, secretKey, token string) clients {
	creds := credentials.NewStaticCredentialsProvider(akid, secretKey, token)
	return clients{
		kms: kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()}),
		iam: iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()}),
		sts: sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()}),
	}
}

// newUser creates an IAM user with an inline policy and returns its clients.
func newUser(t *testing.T, p *proc, admin clients, name, policyDoc string) clients {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	if policyDoc != "" {
		if _, err := admin.iam.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policyDoc)}); err != nil {
			t.Fatalf("put policy of %s: %v", name, err)
		}
	}
	k, err := admin.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return p.as(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, "")
}

func wantDenied(t *testing.T, err error, wantSuffix string) {
	t.Helper()
	if errCode(err) != "AccessDeniedException" || !strings.HasSuffix(err.Error(), wantSuffix) {
		t.Fatalf("got %v\nwant AccessDeniedException ending with %q", err, wantSuffix)
	}
}

// TestEnforcedPolicies runs `kmsd dev --enforce` and checks, with the AWS
// SDK, the decisions users rely on: cross-account use needs the key policy
// and the other account's IAM policy, kms:ViaService keeps a principal to
// calls made through a service, kms:EncryptionContext conditions bind a
// role session to its tenant, and `kmsd admin explain` names the deciding
// statement.
func TestEnforcedPolicies(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()

	// A second account with a root access key, made while the server is
	// stopped, as an operator would.
	out, err := exec.Command(kmsdBin, "admin", "create-access-key", "--data", data, "--account-id", acctB).CombinedOutput()
	if err != nil {
		t.Fatalf("admin create-access-key: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)\s+export AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no access key in:\n%s", out)
	}
	p := startKMSD(t, "dev", "--enforce", "--data", data)
	rootA := p.as(docKey, docSecret, "")
	rootB := p.as(m[1], m[2], "")
	if id, err := rootB.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || *id.Account != acctB {
		t.Fatalf("second account's root: %v", err)
	}

	// The users and roles of account A a key policy names must exist when
	// the policy is set, as in AWS.
	s3app := newUser(t, p, rootA, "s3app", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:user/ops"},"Action":"sts:AssumeRole"}]}`
	ops := newUser(t, p, rootA, "ops", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	if _, err := rootA.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("Tenant"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	keyPolicy := `{"Version":"2012-10-17","Statement":[
 {"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"},
 {"Sid":"OnlyThroughS3","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + acctA + `:user/s3app"},"Action":"kms:Decrypt","Resource":"*",
  "Condition":{"StringNotEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}},
 {"Sid":"TenantRole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:role/Tenant"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
  "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}}
]}`
	ck, err := rootA.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(keyPolicy)})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := *ck.KeyMetadata.Arn

	t.Run("cross-account needs both policies", func(t *testing.T) {
		enc, err := rootB.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("from B")})
		if err != nil {
			t.Fatalf("other account's root: %v", err)
		}
		partner := newUser(t, p, rootB, "partner",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"`+keyARN+`"}]}`)
		if _, err := partner.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x")}); err != nil {
			t.Fatalf("partner Encrypt: %v", err)
		}
		_, err = partner.kms.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keyARN), CiphertextBlob: enc.CiphertextBlob})
		wantDenied(t, err, "User: arn:aws:iam::"+acctB+":user/partner is not authorized to perform: kms:Decrypt on resource: "+keyARN+" because no identity-based policy allows the kms:Decrypt action")
		// A key of account A the key policy does not share stays out of reach.
		private, err := rootA.kms.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = rootB.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: private.KeyMetadata.Arn, Plaintext: []byte("x")})
		wantDenied(t, err, "because no resource-based policy allows the kms:Encrypt action")
	})

	t.Run("kms:ViaService", func(t *testing.T) {
		enc, err := s3app.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("object")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s3app.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		wantDenied(t, err, "with an explicit deny in a resource-based policy")
	})

	t.Run("assumed role bound to its encryption context", func(t *testing.T) {
		// Only ops is trusted.
		_, err := rootA.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/Tenant"), RoleSessionName: aws.String("root")})
		if err == nil {
			t.Fatal("the account root assumed a role that does not trust it")
		}
		as, err := ops.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctA + ":role/Tenant"), RoleSessionName: aws.String("job-7")})
		if err != nil {
			t.Fatal(err)
		}
		tenant := p.as(*as.Credentials.AccessKeyId, *as.Credentials.SecretAccessKey, *as.Credentials.SessionToken)
		acme := map[string]string{"tenant": "acme"}
		enc, err := tenant.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("acme data"), EncryptionContext: acme})
		if err != nil {
			t.Fatalf("session Encrypt: %v", err)
		}
		dec, err := tenant.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: acme})
		if err != nil || !bytes.Equal(dec.Plaintext, []byte("acme data")) {
			t.Fatalf("session Decrypt: %v", err)
		}
		_, err = tenant.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "globex"}})
		wantDenied(t, err, "User: arn:aws:sts::"+acctA+":assumed-role/Tenant/job-7 is not authorized to perform: kms:Encrypt on resource: "+keyARN+" because no identity-based policy allows the kms:Encrypt action")
	})

	t.Run("lockout safety check", func(t *testing.T) {
		lockout := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":"kms:*","Resource":"*"}]}`
		_, err := rootA.kms.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(lockout)})
		if errCode(err) != "MalformedPolicyDocumentException" {
			t.Fatalf("lockout policy: %v", err)
		}
	})

	// The operator's view of the same decisions.
	p.stop()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--principal", "arn:aws:sts::" + acctA + ":assumed-role/Tenant/job-7", "--action", "kms:Decrypt", "--key", keyARN, "--context", "tenant=acme"},
			`ALLOWED: arn:aws:sts::` + acctA + `:assumed-role/Tenant/job-7 kms:Decrypt on ` + keyARN + "\n  allowed: allowed by the key policy, statement 3 (\"TenantRole\")\n"},
		{[]string{"--principal", "arn:aws:iam::" + acctA + ":user/s3app", "--action", "kms:Decrypt", "--key", keyARN},
			`DENIED: arn:aws:iam::` + acctA + `:user/s3app kms:Decrypt on ` + keyARN + "\n  denied: explicit deny in the key policy, statement 2 (\"OnlyThroughS3\")\n"},
		{[]string{"--principal", "arn:aws:iam::" + acctB + ":user/partner", "--action", "kms:Encrypt", "--key", keyARN},
			`ALLOWED: arn:aws:iam::` + acctB + `:user/partner kms:Encrypt on ` + keyARN + "\n  allowed: identity policy 0 statement 0, through key policy statement 1 (\"Partner\")\n"},
	} {
		out, err := exec.Command(kmsdBin, append([]string{"admin", "explain", "--data", data}, tc.args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("explain %v: %v\n%s", tc.args, err, out)
		}
		if !strings.HasPrefix(string(out), tc.want) {
			t.Errorf("explain %v:\n%s\nwant it to start with:\n%s", tc.args, out, tc.want)
		}
	}
}
