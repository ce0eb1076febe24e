package iamapi_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestUsersThroughTheSDK(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	out := must(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("orders")}}}))(t)
	u := out.User
	if *u.UserName != "alice" || *u.Path != "/eng/" || *u.Arn != "arn:aws:iam::111122223333:user/eng/alice" ||
		!strings.HasPrefix(*u.UserId, "AIDA") || u.CreateDate == nil || len(u.Tags) != 1 || *u.Tags[0].Value != "orders" {
		t.Fatalf("CreateUser returned %+v", u)
	}
	_, err := c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("ALICE")})
	if msg := wantErr(t, err, "EntityAlreadyExists", 409); msg != "User with name ALICE already exists." {
		t.Errorf("message %q", msg)
	}
	got := must(c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("Alice")}))(t)
	if *got.User.UserId != *u.UserId || !got.User.CreateDate.Equal(*u.CreateDate) {
		t.Fatalf("GetUser %+v", got.User)
	}
	_, err = c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("nobody")})
	if msg := wantErr(t, err, "NoSuchEntity", 404); msg != "The user with name nobody cannot be found." {
		t.Errorf("message %q", msg)
	}
	// Without a name, GetUser describes the caller: here the root.
	self := must(c.GetUser(bg, &iam.GetUserInput{}))(t)
	if *self.User.Arn != "arn:aws:iam::111122223333:root" || *self.User.UserId != account {
		t.Fatalf("GetUser of the root %+v", self.User)
	}

	for _, n := range []string{"bob", "carol", "dave"} {
		must(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String(n)}))(t)
	}
	var names []string
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{MaxItems: aws.Int32(3)})
	pages := 0
	for p.HasMorePages() {
		page := must(p.NextPage(bg))(t)
		pages++
		for _, u := range page.Users {
			names = append(names, *u.UserName)
		}
	}
	if pages != 2 || strings.Join(names, ",") != "alice,bob,carol,dave" {
		t.Fatalf("%d pages: %v", pages, names)
	}
	eng := must(c.ListUsers(bg, &iam.ListUsersInput{PathPrefix: aws.String("/eng")}))(t)
	if len(eng.Users) != 1 || eng.IsTruncated {
		t.Fatalf("ListUsers /eng: %+v", eng.Users)
	}
	_, err = c.ListUsers(bg, &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
	if msg := wantErr(t, err, "ValidationError", 400); msg != "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000" {
		t.Errorf("message %q", msg)
	}
	_, err = c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("no spaces"), Path: aws.String("eng")})
	if msg := wantErr(t, err, "ValidationError", 400); !strings.HasPrefix(msg, "2 validation errors detected: Value 'no spaces' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+; Value 'eng' at 'path'") {
		t.Errorf("message %q", msg)
	}

	if _, err := c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("bob")})
	wantErr(t, err, "NoSuchEntity", 404)
}

func TestAccessKeysWorkForKMSAndSTS(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	alice := s.createUserWithKey("alice")
	if !strings.HasPrefix(alice.key, "AKIA") || len(alice.key) != 20 || len(alice.secret) != 40 {
		t.Fatalf("access key %s with a secret of %d characters", alice.key, len(alice.secret))
	}
	// The new key signs KMS calls as the user.
	key := must(s.kms(alice).CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("alice's")}))(t)
	id := must(s.sts(alice).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))(t)
	if *id.Arn != "arn:aws:iam::111122223333:user/alice" || *id.Account != account || !strings.HasPrefix(*id.UserId, "AIDA") {
		t.Fatalf("GetCallerIdentity %s %s %s", *id.Arn, *id.Account, *id.UserId)
	}
	// Without a name, key actions act on the calling user.
	second := must(s.iam(alice).CreateAccessKey(bg, &iam.CreateAccessKeyInput{}))(t)
	if *second.AccessKey.UserName != "alice" {
		t.Fatalf("CreateAccessKey for self: %+v", second.AccessKey)
	}
	_, err := c.CreateAccessKey(bg, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if msg := wantErr(t, err, "LimitExceeded", 409); msg != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Errorf("message %q", msg)
	}
	keys := must(s.iam(alice).ListAccessKeys(bg, &iam.ListAccessKeysInput{}))(t)
	if len(keys.AccessKeyMetadata) != 2 || keys.AccessKeyMetadata[0].Status != types.StatusTypeActive {
		t.Fatalf("ListAccessKeys %+v", keys.AccessKeyMetadata)
	}
	rootKeys := must(c.ListAccessKeys(bg, &iam.ListAccessKeysInput{}))(t)
	if len(rootKeys.AccessKeyMetadata) != 1 || *rootKeys.AccessKeyMetadata[0].AccessKeyId != rootKey {
		t.Fatalf("the root's keys %+v", rootKeys.AccessKeyMetadata)
	}
	_, err = c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("alice")})
	if msg := wantErr(t, err, "DeleteConflict", 409); msg != "Cannot delete entity, must delete access keys first." {
		t.Errorf("message %q", msg)
	}

	// A deleted key is refused at once by every service.
	if _, err := c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.kms(alice).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId})
	wantErr(t, err, "UnrecognizedClientException", 400)
	_, err = s.sts(alice).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	if msg := wantErr(t, err, "InvalidClientTokenId", 403); msg != "The security token included in the request is invalid." {
		t.Errorf("message %q", msg)
	}
	_, err = c.DeleteAccessKey(bg, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(alice.key)})
	wantErr(t, err, "NoSuchEntity", 404)

	// The audit record of alice's CreateKey names her.
	var found bool
	for _, rec := range s.readAudit() {
		if rec["eventName"] == "CreateKey" {
			ui := rec["userIdentity"].(map[string]any)
			if ui["type"] != "IAMUser" || ui["arn"] != "arn:aws:iam::111122223333:user/alice" || ui["userName"] != "alice" ||
				ui["accessKeyId"] != alice.key || !strings.HasPrefix(ui["principalId"].(string), "AIDA") {
				t.Errorf("CreateKey userIdentity %v", ui)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no CreateKey record")
	}
}

func TestInlinePoliciesRoundTrip(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	must(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	doc := `{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Use keys + aliases", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]
}`
	must(c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("kms-use"), PolicyDocument: aws.String(doc)}))(t)
	must(c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("audit"), PolicyDocument: aws.String(doc)}))(t)
	got := must(c.GetUserPolicy(bg, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("KMS-USE")}))(t)
	// IAM returns documents percent-encoded, as AWS does.
	dec, err := url.QueryUnescape(*got.PolicyDocument)
	if err != nil || dec != doc || *got.PolicyName != "kms-use" || *got.UserName != "alice" {
		t.Fatalf("GetUserPolicy: %q (%v) %+v", dec, err, got)
	}
	names := must(c.ListUserPolicies(bg, &iam.ListUserPoliciesInput{UserName: aws.String("alice")}))(t)
	if !slices.Equal(names.PolicyNames, []string{"audit", "kms-use"}) {
		t.Fatalf("ListUserPolicies %v", names.PolicyNames)
	}
	pols := must(s.IDs.IdentityPolicies(bg, "arn:aws:iam::111122223333:user/alice"))(t)
	if len(pols) != 2 || pols[1] != doc {
		t.Fatalf("IdentityPolicies %q", pols)
	}
	_, err = c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Statement": [`)})
	if msg := wantErr(t, err, "MalformedPolicyDocument", 400); msg != "Syntax errors in policy." {
		t.Errorf("message %q", msg)
	}
	_, err = c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("nobody"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
	wantErr(t, err, "NoSuchEntity", 404)
	must(c.DeleteUserPolicy(bg, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("audit")}))(t)
	_, err = c.GetUserPolicy(bg, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("audit")})
	if msg := wantErr(t, err, "NoSuchEntity", 404); msg != "The user policy with name audit cannot be found." {
		t.Errorf("message %q", msg)
	}
	_, err = c.DeleteUser(bg, &iam.DeleteUserInput{UserName: aws.String("alice")})
	if msg := wantErr(t, err, "DeleteConflict", 409); msg != "Cannot delete entity, must delete policies first." {
		t.Errorf("message %q", msg)
	}
}

func TestRolesThroughTheSDK(t *testing.T) {
	s := start(t, true)
	c := s.iam(root)
	trust := trustPolicy("arn:aws:iam::111122223333:root")
	out := must(c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("deployer"), Path: aws.String("/ci/"),
		AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("CI deploys"), MaxSessionDuration: aws.Int32(7200)}))(t)
	r := out.Role
	if *r.Arn != "arn:aws:iam::111122223333:role/ci/deployer" || !strings.HasPrefix(*r.RoleId, "AROA") || *r.MaxSessionDuration != 7200 || *r.Description != "CI deploys" {
		t.Fatalf("CreateRole %+v", r)
	}
	if d, _ := url.QueryUnescape(*r.AssumeRolePolicyDocument); d != trust {
		t.Fatalf("trust policy %q", d)
	}
	_, err := c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("Deployer"), AssumeRolePolicyDocument: aws.String(trust)})
	if msg := wantErr(t, err, "EntityAlreadyExists", 409); msg != "Role with name Deployer already exists." {
		t.Errorf("message %q", msg)
	}
	_, err = c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("r2"), AssumeRolePolicyDocument: aws.String(`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
	if msg := wantErr(t, err, "MalformedPolicyDocument", 400); msg != "Missing required field Principal" {
		t.Errorf("message %q", msg)
	}
	_, err = c.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("r3"), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(60)})
	wantErr(t, err, "ValidationError", 400)

	// A user a trust policy names must exist when it is saved.
	newTrust := trustPolicy("arn:aws:iam::111122223333:user/alice")
	_, err = c.UpdateAssumeRolePolicy(bg, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"), PolicyDocument: aws.String(newTrust)})
	if msg := wantErr(t, err, "MalformedPolicyDocument", 400); msg != `Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/alice"` {
		t.Errorf("message %q", msg)
	}
	must(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("alice")}))(t)
	must(c.UpdateAssumeRolePolicy(bg, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("deployer"), PolicyDocument: aws.String(newTrust)}))(t)
	got := must(c.GetRole(bg, &iam.GetRoleInput{RoleName: aws.String("DEPLOYER")}))(t)
	if d, _ := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument); d != newTrust {
		t.Fatalf("trust policy after update %q", d)
	}
	list := must(c.ListRoles(bg, &iam.ListRolesInput{PathPrefix: aws.String("/ci/")}))(t)
	if len(list.Roles) != 1 || *list.Roles[0].RoleName != "deployer" {
		t.Fatalf("ListRoles %+v", list.Roles)
	}
	empty := must(c.ListRoles(bg, &iam.ListRolesInput{PathPrefix: aws.String("/none/")}))(t)
	if empty.Roles == nil || len(empty.Roles) != 0 {
		t.Fatalf("ListRoles of nothing: %#v", empty.Roles)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	must(c.PutRolePolicy(bg, &iam.PutRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("kms"), PolicyDocument: aws.String(doc)}))(t)
	rp := must(c.GetRolePolicy(bg, &iam.GetRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("kms")}))(t)
	if d, _ := url.QueryUnescape(*rp.PolicyDocument); d != doc || *rp.RoleName != "deployer" {
		t.Fatalf("GetRolePolicy %q", d)
	}
	names := must(c.ListRolePolicies(bg, &iam.ListRolePoliciesInput{RoleName: aws.String("deployer")}))(t)
	if !slices.Equal(names.PolicyNames, []string{"kms"}) {
		t.Fatalf("ListRolePolicies %v", names.PolicyNames)
	}
	_, err = c.DeleteRole(bg, &iam.DeleteRoleInput{RoleName: aws.String("deployer")})
	wantErr(t, err, "DeleteConflict", 409)
	must(c.DeleteRolePolicy(bg, &iam.DeleteRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("kms")}))(t)
	_, err = c.DeleteRolePolicy(bg, &iam.DeleteRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("kms")})
	if msg := wantErr(t, err, "NoSuchEntity", 404); msg != "The role policy with name kms cannot be found." {
		t.Errorf("message %q", msg)
	}
	must(c.DeleteRole(bg, &iam.DeleteRoleInput{RoleName: aws.String("deployer")}))(t)
	_, err = c.GetRole(bg, &iam.GetRoleInput{RoleName: aws.String("deployer")})
	if msg := wantErr(t, err, "NoSuchEntity", 404); msg != "The role with name deployer cannot be found." {
		t.Errorf("message %q", msg)
	}
}
