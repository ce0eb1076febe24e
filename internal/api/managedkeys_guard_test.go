package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// managedKeyPolicy is the part of an AWS managed key's policy a user reads.
type managedKeyPolicy struct {
	ID        string `json:"Id"`
	Statement []struct {
		Sid       string
		Principal struct{ AWS string }
		Action    []string
		Condition map[string]map[string]string
	}
}

// TestAWSManagedKeyPolicyAndRotation: the key has AWS's managed-key policy
// (use by the account's principals through the service, metadata for the
// account) and rotates every year, automatically, with nothing to set.
func TestAWSManagedKeyPolicyAndRotation(t *testing.T) {
	s := newServer(t)
	md := s.describe("alias/aws/ebs")
	id := aws.ToString(md.KeyId)

	pol, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	var p managedKeyPolicy
	if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &p); err != nil {
		t.Fatalf("policy %q: %v", aws.ToString(pol.Policy), err)
	}
	if len(p.Statement) != 2 {
		t.Fatalf("policy has %d statements:\n%s", len(p.Statement), aws.ToString(pol.Policy))
	}
	use, read := p.Statement[0], p.Statement[1]
	wantUse := []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"}
	if use.Principal.AWS != "*" || !equalStrings(use.Action, wantUse) ||
		use.Condition["StringEquals"]["kms:ViaService"] != "ec2."+testRegion+".amazonaws.com" ||
		use.Condition["StringEquals"]["kms:CallerAccount"] != testAccount ||
		use.Sid != "Allow access through EBS for all principals in the account that are authorized to use EBS" {
		t.Errorf("use statement: %+v", use)
	}
	if read.Principal.AWS != "arn:aws:iam::"+testAccount+":root" || !equalStrings(read.Action, []string{"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"}) || read.Condition != nil {
		t.Errorf("metadata statement: %+v", read)
	}

	created := aws.ToTime(md.CreationDate)
	status, err := s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	next := created.Add(365 * 24 * time.Hour)
	if !status.KeyRotationEnabled || aws.ToInt32(status.RotationPeriodInDays) != 365 || !aws.ToTime(status.NextRotationDate).Equal(next) {
		t.Fatalf("GetKeyRotationStatus: enabled %v, period %d, next %v; want true, 365, %v",
			status.KeyRotationEnabled, aws.ToInt32(status.RotationPeriodInDays), aws.ToTime(status.NextRotationDate), next)
	}

	blob := s.encrypt("alias/aws/ebs", []byte("snapshot key"), nil).CiphertextBlob
	s.Clock.Add(365*24*time.Hour + time.Minute)
	if n, err := s.Service.RotateDueKeys(bg); n != 1 || err != nil {
		t.Fatalf("RotateDueKeys = %d, %v; want the AWS managed key rotated", n, err)
	}
	rot, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Rotations) != 1 || rot.Rotations[0].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("ListKeyRotations: %+v, want one automatic rotation", rot.Rotations)
	}
	if now := s.describe(id); aws.ToString(now.CurrentKeyMaterialId) == aws.ToString(md.CurrentKeyMaterialId) {
		t.Error("the yearly rotation left the key material as it was")
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "snapshot key" {
		t.Fatalf("Decrypt of a ciphertext from before the rotation: %v", err)
	}
	status, err = s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: &id})
	if err != nil || !status.KeyRotationEnabled || !aws.ToTime(status.NextRotationDate).Equal(next.Add(365*24*time.Hour)) {
		t.Errorf("after the rotation: %+v, %v; next rotation want %v", status, err, next.Add(365*24*time.Hour))
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAWSManagedKeyRefusesChanges: what AWS refuses on an AWS managed key
// is refused with AWS's AccessDeniedException — the key policy allows these
// actions to no one — even under kmsd dev's permissive authorizer, and
// nothing about the key changes; what the policy allows still works.
func TestAWSManagedKeyRefusesChanges(t *testing.T) {
	s := newServer(t)
	md := s.describe("alias/aws/ebs")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)
	s3 := s.describe("alias/aws/s3")
	mine := aws.ToString(s.createKey("mine").KeyId)
	s.createAlias("alias/mine", mine)
	pol, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: &id})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(action, resource string) string {
		return "User: arn:aws:iam::" + testAccount + ":root is not authorized to perform: " + action + " on resource: " + resource +
			" because no resource-based policy allows the " + action + " action"
	}
	other := "arn:aws:iam::444455556666:user/outsider"
	self := "arn:aws:iam::" + testAccount + ":user/app"
	cases := []struct {
		action   string
		resource string
		call     func() error
	}{
		{"kms:PutKeyPolicy", arn, func() error {
			_, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: &id, Policy: pol.Policy, PolicyName: aws.String("default")})
			return err
		}},
		{"kms:ScheduleKeyDeletion", arn, func() error {
			_, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
			return err
		}},
		{"kms:CancelKeyDeletion", arn, func() error {
			_, err := s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: &id})
			return err
		}},
		{"kms:DisableKey", arn, func() error { _, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: &id}); return err }},
		{"kms:EnableKey", arn, func() error { _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: &id}); return err }},
		{"kms:UpdateKeyDescription", arn, func() error {
			_, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("mine now")})
			return err
		}},
		{"kms:EnableKeyRotation", arn, func() error {
			_, err := s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: aws.Int32(90)})
			return err
		}},
		{"kms:DisableKeyRotation", arn, func() error {
			_, err := s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: &id})
			return err
		}},
		{"kms:RotateKeyOnDemand", arn, func() error {
			_, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: &id})
			return err
		}},
		{"kms:TagResource", arn, func() error {
			_, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("x")}}})
			return err
		}},
		{"kms:UntagResource", arn, func() error {
			_, err := s.Client.UntagResource(bg, &kms.UntagResourceInput{KeyId: &id, TagKeys: []string{"team"}})
			return err
		}},
		{"kms:CreateAlias", arn, func() error {
			_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/ebs-default"), TargetKeyId: &id})
			return err
		}},
		{"kms:UpdateAlias", arn, func() error {
			_, err := s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/mine"), TargetKeyId: &id})
			return err
		}},
		{"kms:DeleteAlias", arn, func() error {
			_, err := s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/ebs")})
			return err
		}},
		{"kms:CreateGrant", arn, func() error { // a grantee of another account
			_, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: &id, GranteePrincipal: &other, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
			return err
		}},
		{"kms:CreateGrant", arn, func() error { // a retiring principal of another account
			_, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: &id, GranteePrincipal: &self, RetiringPrincipal: &other, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
			return err
		}},
		{"kms:CreateGrant", aws.ToString(s3.Arn), func() error { // aws/s3's policy has no grants
			_, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: s3.KeyId, GranteePrincipal: &self, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			wantError(t, tc.call(), "AccessDeniedException", denied(tc.action, tc.resource))
		})
	}
	// Aliases under alias/aws/ stay AWS's.
	for name, call := range map[string]func() error{
		"CreateAlias": func() error {
			_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: &mine})
			return err
		},
		"UpdateAlias": func() error {
			_, err := s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/aws/ebs"), TargetKeyId: &mine})
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s under alias/aws/ succeeded", name)
		}
	}

	// Nothing changed.
	after := s.describe("alias/aws/ebs")
	checkAWSManagedKey(t, after, "Default key that protects my EBS volumes when no other key is defined")
	if aws.ToString(after.KeyId) != id {
		t.Errorf("alias/aws/ebs now names %s, want %s", aws.ToString(after.KeyId), id)
	}
	if got := aws.ToString(s.describe("alias/mine").KeyId); got != mine {
		t.Errorf("alias/mine now names %s", got)
	}
	if _, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/ebs-default")}); err == nil {
		t.Error("alias/ebs-default was created")
	}
	if now, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: &id}); err != nil || aws.ToString(now.Policy) != aws.ToString(pol.Policy) {
		t.Errorf("GetKeyPolicy after the refusals: %v, policy changed: %v", err, aws.ToString(now.Policy) != aws.ToString(pol.Policy))
	}
	if st, err := s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: &id}); err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 365 {
		t.Errorf("rotation after the refusals: %+v, %v", st, err)
	}
	if tags, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: &id}); err != nil || len(tags.Tags) != 0 {
		t.Errorf("ListResourceTags: %+v, %v", tags, err)
	}
	if rot, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: &id}); err != nil || len(rot.Rotations) != 0 {
		t.Errorf("ListKeyRotations: %+v, %v", rot, err)
	}

	// What the policy allows: use, and grants for the account's principals.
	g, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: &id, GranteePrincipal: &self, Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	if err != nil {
		t.Fatalf("CreateGrant to a principal of the account: %v", err)
	}
	if list, err := s.Client.ListGrants(bg, &kms.ListGrantsInput{KeyId: &id}); err != nil || len(list.Grants) != 1 {
		t.Errorf("ListGrants: %+v, %v", list, err)
	}
	if _, err := s.Client.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &id, GrantId: g.GrantId}); err != nil {
		t.Errorf("RevokeGrant: %v", err)
	}
	if _, err := s.Client.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: &id}); err != nil {
		t.Errorf("ListKeyPolicies: %v", err)
	}
}

// TestAWSManagedKeyUnderEnforcedPolicies runs AWS's managed-key policy as
// kmsd serve and kmsd dev --enforce decide it: an IAM user of the account
// with no permissions of its own may use the key (kmsd acts as the
// service, so kms:ViaService holds and kms:CallerAccount decides); the
// account root may read the key but not change it; a principal of another
// account may neither use the key nor create an account's key by naming
// its alias ARN.
func TestAWSManagedKeyUnderEnforcedPolicies(t *testing.T) {
	s := startBarServer(t, barOptions{})
	root, alice, bob := s.as(rootA), s.as(aliceA), s.as(bobB)
	ebsARN := "arn:aws:kms:" + testRegion + ":" + testAccount + ":alias/aws/ebs"

	_, err := bob.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: &ebsARN})
	// As for any key of another account bob may not use: AccessDenied,
	// whether or not it exists.
	wantError(t, err, "AccessDeniedException", "User: "+bobB+" is not authorized to perform: kms:DescribeKey on resource: "+ebsARN+" because no resource-based policy allows the kms:DescribeKey action")
	if keys, err := root.ListKeys(bg, &kms.ListKeysInput{}); err != nil || len(keys.Keys) != 0 {
		t.Fatalf("another account's DescribeKey created a key: %+v, %v", keys, err)
	}

	enc, err := alice.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/aws/s3"), Plaintext: []byte("object key")})
	if err != nil {
		t.Fatalf("an IAM user of the account encrypting with alias/aws/s3: %v", err)
	}
	dec, err := alice.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "object key" {
		t.Fatalf("Decrypt: %v", err)
	}
	keyARN := aws.ToString(enc.KeyId)
	if _, err := root.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: &keyARN}); err != nil {
		t.Errorf("the account root reading the policy: %v", err)
	}
	_, err = root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: &keyARN, Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + rootA + `"},"Action":"kms:*","Resource":"*"}]}`)})
	wantError(t, err, "AccessDeniedException", "User: "+rootA+" is not authorized to perform: kms:PutKeyPolicy on resource: "+keyARN+" because no resource-based policy allows the kms:PutKeyPolicy action")
	_, err = root.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: &keyARN})
	wantError(t, err, "AccessDeniedException", "User: "+rootA+" is not authorized to perform: kms:ScheduleKeyDeletion on resource: "+keyARN+" because no resource-based policy allows the kms:ScheduleKeyDeletion action")
	_, err = bob.Encrypt(bg, &kms.EncryptInput{KeyId: &keyARN, Plaintext: []byte("x")})
	wantError(t, err, "AccessDeniedException", "User: "+bobB+" is not authorized to perform: kms:Encrypt on resource: "+keyARN+" because no resource-based policy allows the kms:Encrypt action")
}
