package iamapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// assume calls AssumeRole and returns the session's credentials.
func assume(t *testing.T, c *sts.Client, roleARN, session string, seconds int32) (creds, *sts.AssumeRoleOutput) {
	t.Helper()
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session)}
	if seconds > 0 {
		in.DurationSeconds = aws.Int32(seconds)
	}
	out, err := c.AssumeRole(bg, in)
	if err != nil {
		t.Fatalf("AssumeRole %s: %v", roleARN, err)
	}
	cr := out.Credentials
	return creds{key: *cr.AccessKeyId, secret: *cr.SecretAccessKey, token: *cr.SessionToken}, out
}

func TestAssumedRoleSessionsCallKMS(t *testing.T) {
	s := start(t, true)
	alice := s.createUserWithKey("alice")
	roleARN := "arn:aws:iam::111122223333:role/deployer"
	must(s.iam(root).CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"),
		AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::111122223333:user/alice"))}))(t)

	before := time.Now().Truncate(time.Second)
	sess, out := assume(t, s.sts(alice), roleARN, "build-42", 0)
	exp := *out.Credentials.Expiration
	if !strings.HasPrefix(sess.key, "ASIA") || len(sess.key) != 20 || len(sess.token) < 100 ||
		exp.Before(before.Add(time.Hour)) || exp.After(time.Now().Add(time.Hour)) {
		t.Fatalf("session %s expiring %s", sess.key, exp)
	}
	if *out.AssumedRoleUser.Arn != "arn:aws:sts::111122223333:assumed-role/deployer/build-42" ||
		!strings.HasPrefix(*out.AssumedRoleUser.AssumedRoleId, "AROA") || !strings.HasSuffix(*out.AssumedRoleUser.AssumedRoleId, ":build-42") {
		t.Fatalf("AssumedRoleUser %+v", out.AssumedRoleUser)
	}

	// The session signs KMS and STS calls as the assumed role.
	key := must(s.kms(sess).CreateKey(bg, &kms.CreateKeyInput{}))(t)
	id := must(s.sts(sess).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))(t)
	if *id.Arn != *out.AssumedRoleUser.Arn || *id.UserId != *out.AssumedRoleUser.AssumedRoleId {
		t.Fatalf("GetCallerIdentity of the session: %s %s", *id.Arn, *id.UserId)
	}
	// IAM actions on "self" need a user.
	_, err := s.iam(sess).GetUser(bg, &iam.GetUserInput{})
	if msg := wantErr(t, err, "ValidationError", 400); msg != "Must specify userName when calling with non-User credentials" {
		t.Errorf("message %q", msg)
	}

	// A wrong or missing token, or the token of another session, is refused.
	other, _ := assume(t, s.sts(alice), roleARN, "other", 0)
	for name, c := range map[string]creds{
		"tampered token":  {sess.key, sess.secret, sess.token[:len(sess.token)-2] + "AA"},
		"no token":        {sess.key, sess.secret, ""},
		"another's token": {sess.key, sess.secret, other.token},
	} {
		_, err := s.kms(c).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId})
		wantErr(t, err, "UnrecognizedClientException", 400)
		_, err = s.sts(c).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
		if msg := wantErr(t, err, "InvalidClientTokenId", 403); msg != "The security token included in the request is invalid" {
			t.Errorf("%s: message %q", name, msg)
		}
	}
	// A token sent with a long-term key is refused too.
	_, err = s.kms(creds{alice.key, alice.secret, sess.token}).ListKeys(bg, &kms.ListKeysInput{})
	wantErr(t, err, "UnrecognizedClientException", 400)

	recs := s.readAudit()
	var sawKMS, sawAssume bool
	for _, rec := range recs {
		ui := rec["userIdentity"].(map[string]any)
		switch {
		case rec["eventName"] == "CreateKey":
			sawKMS = true
			if ui["type"] != "AssumedRole" || ui["arn"] != *out.AssumedRoleUser.Arn || ui["principalId"] != *out.AssumedRoleUser.AssumedRoleId ||
				ui["accessKeyId"] != sess.key || ui["accountId"] != account {
				t.Errorf("CreateKey by the session: userIdentity %v", ui)
			}
		case rec["eventName"] == "AssumeRole" && rec["errorCode"] == nil && !sawAssume:
			sawAssume = true
			if rec["eventSource"] != "sts.amazonaws.com" || rec["awsRegion"] != "eu-west-1" || ui["arn"] != "arn:aws:iam::111122223333:user/alice" {
				t.Errorf("AssumeRole record %v", rec)
			}
			res := rec["resources"].([]any)[0].(map[string]any)
			if res["ARN"] != roleARN || res["type"] != "AWS::IAM::Role" {
				t.Errorf("AssumeRole resources %v", res)
			}
			creds := rec["responseElements"].(map[string]any)["credentials"].(map[string]any)
			if creds["accessKeyId"] != sess.key || len(creds) != 2 {
				t.Errorf("AssumeRole responseElements.credentials %v", creds)
			}
		}
	}
	if !sawKMS || !sawAssume {
		t.Fatalf("records of CreateKey (%v) or AssumeRole (%v) missing", sawKMS, sawAssume)
	}
}

func TestExpiredSessionIsRefused(t *testing.T) {
	s := start(t, true)
	alice := s.createUserWithKey("alice")
	must(s.iam(root).CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("r1"),
		AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::111122223333:user/alice"))}))(t)
	// Issue a 15-minute session 20 minutes ago.
	s.Clock.Set(time.Now().Add(-20 * time.Minute))
	sess, _ := assume(t, s.sts(alice), "arn:aws:iam::111122223333:role/r1", "late", 900)
	s.Clock.Set(time.Now())

	_, err := s.kms(sess).ListKeys(bg, &kms.ListKeysInput{})
	if msg := wantErr(t, err, "ExpiredTokenException", 400); msg != "The security token included in the request is expired" {
		t.Errorf("KMS message %q", msg)
	}
	_, err = s.sts(sess).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	if msg := wantErr(t, err, "ExpiredToken", 400); msg != "The security token included in the request is expired" {
		t.Errorf("STS message %q", msg)
	}
	_, err = s.iam(sess).ListUsers(bg, &iam.ListUsersInput{})
	wantErr(t, err, "ExpiredToken", 400)
	// A wrong signature is reported as such, before the expiry.
	_, err = s.sts(creds{sess.key, sess.secret + "x", sess.token}).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantErr(t, err, "SignatureDoesNotMatch", 403)
}

func TestTrustPolicyAndDurationsAreEnforced(t *testing.T) {
	s := start(t, true)
	alice := s.createUserWithKey("alice")
	bob := s.createUserWithKey("bob")
	roleARN := "arn:aws:iam::111122223333:role/deployer"
	must(s.iam(root).CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"), MaxSessionDuration: aws.Int32(7200),
		AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::111122223333:user/alice"))}))(t)

	_, err := s.sts(bob).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
	if msg := wantErr(t, err, "AccessDenied", 403); msg != "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole on resource: "+roleARN {
		t.Errorf("message %q", msg)
	}
	// A role that does not exist is refused the same way.
	_, err = s.sts(bob).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/none"), RoleSessionName: aws.String("s1")})
	wantErr(t, err, "AccessDenied", 403)
	_, err = s.sts(root).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
	if msg := wantErr(t, err, "AccessDenied", 403); msg != "Roles may not be assumed by root accounts." {
		t.Errorf("message %q", msg)
	}

	// Trusting bob's account root lets bob in.
	must(s.iam(root).UpdateAssumeRolePolicy(bg, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"),
		PolicyDocument: aws.String(trustPolicy("arn:aws:iam::111122223333:user/alice", "111122223333"))}))(t)
	assume(t, s.sts(bob), roleARN, "s1", 0)

	sess, out := assume(t, s.sts(alice), roleARN, "long", 7200)
	if d := time.Until(*out.Credentials.Expiration); d < 119*time.Minute {
		t.Fatalf("a 7200-second session expires in %s", d)
	}
	_, err = s.sts(alice).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7201)})
	if msg := wantErr(t, err, "ValidationError", 400); msg != "The requested DurationSeconds exceeds the MaxSessionDuration set for this role." {
		t.Errorf("message %q", msg)
	}
	_, err = s.sts(alice).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(60)})
	if msg := wantErr(t, err, "ValidationError", 400); msg != "1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900" {
		t.Errorf("message %q", msg)
	}
	_, err = s.sts(alice).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"),
		Policy: aws.String(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if msg := wantErr(t, err, "ValidationError", 400); !strings.Contains(msg, "Policy is not supported") {
		t.Errorf("message %q", msg)
	}
	// Role chaining: the session itself is trusted through the account, but capped at an hour.
	_, err = s.sts(sess).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("chain"), DurationSeconds: aws.Int32(3601)})
	if msg := wantErr(t, err, "ValidationError", 400); msg != "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining." {
		t.Errorf("message %q", msg)
	}
	chained, _ := assume(t, s.sts(sess), roleARN, "chain", 0)
	must(s.kms(chained).ListKeys(bg, &kms.ListKeysInput{}))(t)

	// Deleting the role ends its sessions at once.
	must(s.iam(root).DeleteRole(bg, &iam.DeleteRoleInput{RoleName: aws.String("deployer")}))(t)
	_, err = s.kms(sess).ListKeys(bg, &kms.ListKeysInput{})
	wantErr(t, err, "UnrecognizedClientException", 400)
}

func TestPermissiveModeActsAsTheRoot(t *testing.T) {
	s := start(t, false)
	anyone := creds{"AKIAANYTHINGATALL000", "whatever-secret-key", ""}
	id := must(s.sts(anyone).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))(t)
	if *id.Arn != "arn:aws:iam::111122223333:root" || *id.UserId != account || *id.Account != account {
		t.Fatalf("GetCallerIdentity %s %s %s", *id.Arn, *id.UserId, *id.Account)
	}
	must(s.iam(anyone).CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	must(s.iam(anyone).CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::111122223333:root"))}))(t)
	// The root may assume a role that trusts its account here.
	sess, _ := assume(t, s.sts(anyone), "arn:aws:iam::111122223333:role/r", "dev", 0)
	// Any credentials, sessions included, act as the root.
	id = must(s.sts(sess).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))(t)
	if *id.Arn != "arn:aws:iam::111122223333:root" {
		t.Fatalf("GetCallerIdentity with session credentials in permissive mode: %s", *id.Arn)
	}
}
