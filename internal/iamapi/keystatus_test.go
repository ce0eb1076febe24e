package iamapi_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const invalidToken = "The security token included in the request is invalid."

// statusOf returns the Status ListAccessKeys reports for akid of user.
func (s *server) statusOf(user, akid string) types.StatusType {
	s.t.Helper()
	out := must(s.iam(root).ListAccessKeys(bg, &iam.ListAccessKeysInput{UserName: aws.String(user)}))(s.t)
	for _, k := range out.AccessKeyMetadata {
		if *k.AccessKeyId == akid {
			return k.Status
		}
	}
	s.t.Fatalf("ListAccessKeys of %s lacks %s", user, akid)
	return ""
}

// TestInactiveAccessKeyIsRefusedAtOnce deactivates a key that has just
// signed requests (so its secret sits in the credential cache) and checks
// that the very next request signed with it is refused by KMS, STS and
// IAM, as AWS refuses an inactive key, and that reactivating it restores it.
func TestInactiveAccessKeyIsRefusedAtOnce(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	alice := s.createUserWithKey("alice")
	key := must(s.kms(alice).CreateKey(bg, &kms.CreateKeyInput{}))(t)
	if _, err := s.sts(alice).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if got := s.statusOf("alice", alice.key); got != types.StatusTypeActive {
		t.Fatalf("new key is %q", got)
	}

	if _, err := c.UpdateAccessKey(bg, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key), Status: types.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	if got := s.statusOf("alice", alice.key); got != types.StatusTypeInactive {
		t.Fatalf("after UpdateAccessKey Inactive, ListAccessKeys says %q", got)
	}
	_, err := s.kms(alice).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId})
	if msg := wantErr(t, err, "UnrecognizedClientException", 400); msg != invalidToken {
		t.Errorf("KMS message %q", msg)
	}
	_, err = s.sts(alice).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	if msg := wantErr(t, err, "InvalidClientTokenId", 403); msg != invalidToken {
		t.Errorf("STS message %q", msg)
	}
	_, err = s.iam(alice).ListAccessKeys(bg, &iam.ListAccessKeysInput{})
	wantErr(t, err, "InvalidClientTokenId", 403)

	if _, err := c.UpdateAccessKey(bg, &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key), Status: types.StatusTypeActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kms(alice).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("reactivated key: %v", err)
	}

	// Without UserName the action applies to the caller's own keys.
	if _, err := c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("own-keys"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:UpdateAccessKey","Resource":"arn:aws:iam::111122223333:user/alice"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.iam(alice).UpdateAccessKey(bg, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(alice.key), Status: types.StatusTypeInactive}); err != nil {
		t.Fatalf("alice deactivating her own key: %v", err)
	}
	_, err = s.kms(alice).ListKeys(bg, &kms.ListKeysInput{})
	wantErr(t, err, "UnrecognizedClientException", 400)
	if got := s.statusOf("alice", alice.key); got != types.StatusTypeInactive {
		t.Fatalf("after deactivating her own key, ListAccessKeys says %q", got)
	}

	var audited bool
	for _, rec := range s.readAudit() {
		if rec["eventName"] != "UpdateAccessKey" || rec["errorCode"] != nil {
			continue
		}
		p := rec["requestParameters"].(map[string]any)
		if p["accessKeyId"] != alice.key || (p["status"] != "Inactive" && p["status"] != "Active") {
			t.Errorf("UpdateAccessKey requestParameters %v", p)
		}
		audited = true
	}
	if !audited {
		t.Error("no audit record of UpdateAccessKey")
	}
}

// TestUpdateAccessKeyErrors checks IAM's answers to a bad status, an
// unknown key, a key of another user and an unknown user, and that none of
// them changes the key.
func TestUpdateAccessKeyErrors(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	alice := s.createUserWithKey("alice")
	s.createUserWithKey("bob")
	for _, tc := range []struct {
		name      string
		in        iam.UpdateAccessKeyInput
		code, msg string
		status    int
	}{
		{"lower-case status", iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key), Status: "inactive"},
			"ValidationError", "1 validation error detected: Value 'inactive' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", 400},
		{"Expired", iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key), Status: types.StatusTypeExpired},
			"ValidationError", "1 validation error detected: Value 'Expired' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", 400},
		{"unknown key", iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAXXXXXXXXXXXXXXXX"), Status: types.StatusTypeInactive},
			"NoSuchEntity", "The Access Key with id AKIAXXXXXXXXXXXXXXXX cannot be found.", 404},
		{"another user's key", iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(alice.key), Status: types.StatusTypeInactive},
			"NoSuchEntity", "The Access Key with id " + alice.key + " cannot be found.", 404},
		{"the root's own keys", iam.UpdateAccessKeyInput{AccessKeyId: aws.String(alice.key), Status: types.StatusTypeInactive},
			"NoSuchEntity", "The Access Key with id " + alice.key + " cannot be found.", 404},
		{"unknown user", iam.UpdateAccessKeyInput{UserName: aws.String("nobody"), AccessKeyId: aws.String(alice.key), Status: types.StatusTypeInactive},
			"NoSuchEntity", "The user with name nobody cannot be found.", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			_, err := c.UpdateAccessKey(bg, &in)
			if msg := wantErr(t, err, tc.code, tc.status); msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			if got := s.statusOf("alice", alice.key); got != types.StatusTypeActive {
				t.Errorf("a refused update left the key %q", got)
			}
			if _, err := s.sts(alice).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("a refused update broke the key: %v", err)
			}
		})
	}
}

// TestUpdateAccessKeyWithTheCLI deactivates and reactivates a user's key
// with `aws iam update-access-key` and checks what the CLI shows.
func TestUpdateAccessKeyWithTheCLI(t *testing.T) {
	s := start(t, true)
	alice := s.createUserWithKey("alice")
	script := `
E=http://127.0.0.1:8080
aws --endpoint-url $E iam update-access-key --user-name alice --access-key-id ` + alice.key + ` --status Inactive
echo "status: $(aws --endpoint-url $E iam list-access-keys --user-name alice --query 'AccessKeyMetadata[0].Status' --output text)"
export AWS_ACCESS_KEY_ID=` + alice.key + ` AWS_SECRET_ACCESS_KEY='` + alice.secret + `'
aws --endpoint-url $E kms list-keys 2>&1 || echo "kms refused"
aws --endpoint-url $E sts get-caller-identity 2>&1 || echo "sts refused"
export AWS_ACCESS_KEY_ID=` + rootKey + ` AWS_SECRET_ACCESS_KEY='` + rootSecret + `'
aws --endpoint-url $E iam update-access-key --user-name alice --access-key-id ` + alice.key + ` --status Enabled 2>&1 || echo "bad status refused"
aws --endpoint-url $E iam update-access-key --user-name alice --access-key-id ` + alice.key + ` --status Active
echo "status: $(aws --endpoint-url $E iam list-access-keys --user-name alice --query 'AccessKeyMetadata[0].Status' --output text)"
AWS_ACCESS_KEY_ID=` + alice.key + ` AWS_SECRET_ACCESS_KEY='` + alice.secret + `' aws --endpoint-url $E sts get-caller-identity --query Arn --output text
`
	out, err := s.runCLI(script)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"status: Inactive\n",
		"An error occurred (UnrecognizedClientException) when calling the ListKeys operation: " + invalidToken + "\nkms refused\n",
		"An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: " + invalidToken + "\nsts refused\n",
		"An error occurred (ValidationError) when calling the UpdateAccessKey operation: 1 validation error detected: Value 'Enabled' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]\nbad status refused\n",
		"status: Active\n",
		"\narn:aws:iam::111122223333:user/alice\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
