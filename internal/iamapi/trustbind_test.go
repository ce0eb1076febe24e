package iamapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// trustOf returns a role's trust policy as GetRole shows it, decoded.
func (s *server) trustOf(role string) string {
	s.t.Helper()
	out := must(s.iam(root).GetRole(bg, &iam.GetRoleInput{RoleName: aws.String(role)}))(s.t)
	d, err := url.QueryUnescape(*out.Role.AssumeRolePolicyDocument)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// deleteUser removes a user and its access keys.
func (s *server) deleteUser(name string) {
	s.t.Helper()
	c := s.iam(root)
	keys := must(c.ListAccessKeys(bg, &iam.ListAccessKeysInput{UserName: aws.String(name)}))(s.t)
	for _, k := range keys.AccessKeyMetadata {
		must(c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String(name), AccessKeyId: k.AccessKeyId}))(s.t)
	}
	must(c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String(name)}))(s.t)
}

// TestTrustPolicyPrincipalsAreBoundByUniqueID checks, with the SDK and the
// CLI, that a trust policy names users and roles by the principal, as IAM
// does: one that does not exist is refused; GetRole and ListRoles show the
// unique id of one deleted since; a user or role recreated under the same
// name may not assume the role until the trust policy is saved again.
func TestTrustPolicyPrincipalsAreBoundByUniqueID(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	const (
		aliceARN    = "arn:aws:iam::111122223333:user/alice"
		deployerARN = "arn:aws:iam::111122223333:role/deployer"
		targetARN   = "arn:aws:iam::111122223333:role/target"
	)
	_, err := c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trustPolicy(aliceARN))})
	if msg := wantErr(t, err, "MalformedPolicyDocument", 400); msg != `Invalid principal in policy: "AWS":"`+aliceARN+`"` {
		t.Errorf("message %q", msg)
	}

	alice := s.createUserWithKey("alice")
	aliceID := *must(c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("alice")}))(t).User.UserId
	// Another account's principal and a session ARN are kept as written.
	trust := trustPolicy(aliceARN, "arn:aws:iam::444455556666:root", "arn:aws:sts::111122223333:assumed-role/gone/s")
	must(c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	deployerID := *must(c.GetRole(bg, &iam.GetRoleInput{RoleName: aws.String("deployer")}))(t).Role.RoleId
	must(c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("target"), AssumeRolePolicyDocument: aws.String(trustPolicy(deployerARN))}))(t)
	assumeAs := func(who creds, roleARN string) (creds, error) {
		out, err := s.sts(who).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")})
		if err != nil {
			return creds{}, err
		}
		return creds{*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken}, nil
	}
	deployer := must(assumeAs(alice, deployerARN))(t)
	must(assumeAs(deployer, targetARN))(t) // a session of the role target trusts
	if got := s.trustOf("deployer"); got != trust {
		t.Fatalf("GetRole while alice exists: %s\nwant the policy as saved: %s", got, trust)
	}

	// alice and deployer are deleted and recreated under the same names.
	s.deleteUser("alice")
	orphaned := strings.Replace(trust, `"`+aliceARN+`"`, `"`+aliceID+`"`, 1)
	if got := s.trustOf("deployer"); got != orphaned {
		t.Fatalf("GetRole after alice was deleted:\n%s\nwant her unique id in place of her ARN:\n%s", got, orphaned)
	}
	list := must(c.ListRoles(bg, &iam.ListRolesInput{}))(t)
	for _, r := range list.Roles {
		if d, _ := url.QueryUnescape(*r.AssumeRolePolicyDocument); *r.RoleName == "deployer" && d != orphaned {
			t.Fatalf("ListRoles shows %s", d)
		}
	}
	newAlice := s.createUserWithKey("alice")
	_, err = assumeAs(newAlice, deployerARN)
	if msg := wantErr(t, err, "AccessDenied", 403); msg != "User: "+aliceARN+" is not authorized to perform: sts:AssumeRole on resource: "+deployerARN {
		t.Errorf("message %q", msg)
	}
	if got := s.trustOf("deployer"); got != orphaned {
		t.Fatalf("GetRole after the name was reused: %s", got)
	}
	out, err := s.runCLI("aws --endpoint-url http://127.0.0.1:8080 iam get-role --role-name deployer --query 'Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS' --output text")
	if err != nil || !strings.Contains(out, aliceID) || strings.Contains(out, aliceARN) {
		t.Fatalf("aws iam get-role: %v\n%s\nwant %s in place of %s", err, out, aliceID, aliceARN)
	}

	// Saving the policy again binds the name to the new alice.
	must(c.UpdateAssumeRolePolicy(bg, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"), PolicyDocument: aws.String(trust)}))(t)
	must(assumeAs(newAlice, deployerARN))(t)
	if got := s.trustOf("deployer"); got != trust {
		t.Fatalf("GetRole after the policy was saved again: %s", got)
	}

	// The same for a role: target trusts the deployer that existed when
	// its policy was saved, not a role recreated under that name.
	must(c.DeleteRole(bg, &iam.DeleteRoleInput{RoleName: aws.String("deployer")}))(t)
	if got, want := s.trustOf("target"), strings.Replace(trustPolicy(deployerARN), deployerARN, deployerID, 1); got != want {
		t.Fatalf("GetRole of target after deployer was deleted: %s, want %s", got, want)
	}
	must(c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trust)}))(t)
	deployer = must(assumeAs(newAlice, deployerARN))(t)
	_, err = assumeAs(deployer, targetARN)
	if msg := wantErr(t, err, "AccessDenied", 403); !strings.HasPrefix(msg, "User: arn:aws:sts::111122223333:assumed-role/deployer/s1 is not authorized") {
		t.Errorf("message %q", msg)
	}
}
