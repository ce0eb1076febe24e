package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// keyOnlyOperations calls, with ref as the key, every operation whose
// KeyId (or TargetKeyId) AWS documents as "key ID or key ARN" only.
func keyOnlyOperations(cl *kms.Client, grantID string) map[string]func(ref string) error {
	k := aws.String
	root := "arn:aws:iam::" + testAccount + ":root"
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:*","Resource":"*"}]}`
	return map[string]func(string) error{
		"CreateGrant": func(ref string) error {
			_, err := cl.CreateGrant(bg, &kms.CreateGrantInput{KeyId: k(ref), GranteePrincipal: k(root), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
			return err
		},
		"ListGrants": func(ref string) error { _, err := cl.ListGrants(bg, &kms.ListGrantsInput{KeyId: k(ref)}); return err },
		"RevokeGrant": func(ref string) error {
			_, err := cl.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: k(ref), GrantId: k(grantID)})
			return err
		},
		"RetireGrant": func(ref string) error {
			_, err := cl.RetireGrant(bg, &kms.RetireGrantInput{KeyId: k(ref), GrantId: k(grantID)})
			return err
		},
		"GetKeyPolicy": func(ref string) error {
			_, err := cl.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: k(ref)})
			return err
		},
		"PutKeyPolicy": func(ref string) error {
			_, err := cl.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: k(ref), Policy: k(policy)})
			return err
		},
		"ListKeyPolicies": func(ref string) error {
			_, err := cl.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: k(ref)})
			return err
		},
		"EnableKeyRotation": func(ref string) error {
			_, err := cl.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: k(ref)})
			return err
		},
		"DisableKeyRotation": func(ref string) error {
			_, err := cl.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: k(ref)})
			return err
		},
		"GetKeyRotationStatus": func(ref string) error {
			_, err := cl.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: k(ref)})
			return err
		},
		"RotateKeyOnDemand": func(ref string) error {
			_, err := cl.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: k(ref)})
			return err
		},
		"ListKeyRotations": func(ref string) error {
			_, err := cl.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: k(ref)})
			return err
		},
		"ScheduleKeyDeletion": func(ref string) error {
			_, err := cl.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: k(ref), PendingWindowInDays: aws.Int32(7)})
			return err
		},
		"CancelKeyDeletion": func(ref string) error {
			_, err := cl.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: k(ref)})
			return err
		},
		"EnableKey":  func(ref string) error { _, err := cl.EnableKey(bg, &kms.EnableKeyInput{KeyId: k(ref)}); return err },
		"DisableKey": func(ref string) error { _, err := cl.DisableKey(bg, &kms.DisableKeyInput{KeyId: k(ref)}); return err },
		"UpdateKeyDescription": func(ref string) error {
			_, err := cl.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: k(ref), Description: k("changed")})
			return err
		},
		"TagResource": func(ref string) error {
			_, err := cl.TagResource(bg, &kms.TagResourceInput{KeyId: k(ref), Tags: []types.Tag{{TagKey: k("t"), TagValue: k("v")}}})
			return err
		},
		"UntagResource": func(ref string) error {
			_, err := cl.UntagResource(bg, &kms.UntagResourceInput{KeyId: k(ref), TagKeys: []string{"t"}})
			return err
		},
		"ListResourceTags": func(ref string) error {
			_, err := cl.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: k(ref)})
			return err
		},
		"ReplicateKey": func(ref string) error {
			_, err := cl.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: k(ref), ReplicaRegion: k(otherRegion)})
			return err
		},
		"UpdatePrimaryRegion": func(ref string) error {
			_, err := cl.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: k(ref), PrimaryRegion: k(otherRegion)})
			return err
		},
		"GetKeyLastUsage": func(ref string) error {
			_, err := cl.GetKeyLastUsage(bg, &kms.GetKeyLastUsageInput{KeyId: k(ref)})
			return err
		},
		"GetParametersForImport": func(ref string) error {
			_, err := cl.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: k(ref),
				WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
			return err
		},
		"ImportKeyMaterial": func(ref string) error {
			_, err := cl.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: k(ref), ImportToken: []byte("token"),
				EncryptedKeyMaterial: []byte("material"), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
			return err
		},
		"DeleteImportedKeyMaterial": func(ref string) error {
			_, err := cl.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: k(ref)})
			return err
		},
		"ListAliases": func(ref string) error { _, err := cl.ListAliases(bg, &kms.ListAliasesInput{KeyId: k(ref)}); return err },
	}
}

// TestKeyOnlyOperationsRefuseAliases: an alias name or alias ARN given to an
// operation that takes only a key ID or key ARN is refused with AWS's
// InvalidArnException, whether or not the alias exists, and changes
// nothing; the operations that take aliases still do.
func TestKeyOnlyOperationsRefuseAliases(t *testing.T) {
	s := newServer(t)
	md := s.createKey("target")
	id := aws.ToString(md.KeyId)
	s.createAlias("alias/app", id)
	g, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String("arn:aws:iam::" + testAccount + ":root"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	if err != nil {
		t.Fatal(err)
	}
	refs := []string{"alias/app", aliasARN(testRegion, "alias/app"), "alias/missing", aliasARN(testRegion, "alias/missing")}
	for name, call := range keyOnlyOperations(s.Client, aws.ToString(g.GrantId)) {
		for _, ref := range refs {
			t.Run(name+" "+ref, func(t *testing.T) {
				wantError(t, call(ref), "InvalidArnException", "Key Aliases are not supported for this operation.")
			})
		}
	}

	// Nothing changed on the key.
	after := s.describe(id)
	if after.KeyState != types.KeyStateEnabled || aws.ToString(after.Description) != "target" || after.DeletionDate != nil {
		t.Fatalf("key changed through its alias: state %s, description %q", after.KeyState, aws.ToString(after.Description))
	}
	tags, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id)})
	if err != nil || len(tags.Tags) != 0 {
		t.Fatalf("tags %v, %v", tags, err)
	}
	grants, err := s.Client.ListGrants(bg, &kms.ListGrantsInput{KeyId: aws.String(id)})
	if err != nil || len(grants.Grants) != 1 {
		t.Fatalf("grants %v, %v", grants, err)
	}

	// The same operations take the key ID and the key ARN.
	for _, ref := range []string{id, aws.ToString(md.Arn)} {
		if _, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(ref)}); err != nil {
			t.Fatalf("GetKeyPolicy %s: %v", ref, err)
		}
	}
	// Operations that take aliases resolve both forms.
	for _, ref := range refs[:2] {
		if d, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(ref)}); err != nil || aws.ToString(d.KeyMetadata.KeyId) != id {
			t.Fatalf("DescribeKey %s: %v", ref, err)
		}
		if _, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(ref), Plaintext: []byte("x")}); err != nil {
			t.Fatalf("Encrypt %s: %v", ref, err)
		}
	}
}

// TestAliasTargetMustBeAKey: CreateAlias and UpdateAlias refuse an alias as
// the target key with AWS's ValidationException.
func TestAliasTargetMustBeAKey(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	s.createAlias("alias/first", id)
	for _, target := range []string{"alias/first", aliasARN(testRegion, "alias/first"), "alias/none"} {
		_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/second"), TargetKeyId: aws.String(target)})
		wantError(t, err, "ValidationException", "Aliases must refer to keys. Not aliases")
		_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/first"), TargetKeyId: aws.String(target)})
		wantError(t, err, "ValidationException", "Aliases must refer to keys. Not aliases")
	}
	if got := s.listAliases(id); len(got) != 1 {
		t.Fatalf("aliases %v, want only alias/first", got)
	}
}

// TestAliasNameCharacters: AWS accepts only letters, digits, '/', '_' and
// '-' after alias/, although the model's pattern also admits ':', and
// reserves alias/aws/ (NotAuthorizedException, no message).
func TestAliasNameCharacters(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	s.createAlias("alias/keep", id)
	for _, name := range []string{"alias/my:alias", "alias/a:", "alias/:"} {
		_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(id)})
		wantError(t, err, "ValidationException", name+" contains invalid characters for an alias")
		_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(id)})
		wantError(t, err, "ValidationException", name+" contains invalid characters for an alias")
	}
	for _, name := range []string{"alias/aws/s3", "alias/aws/new"} {
		_, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(id)})
		wantCode(t, err, "NotAuthorizedException")
		_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(id)})
		wantCode(t, err, "NotAuthorizedException")
		// The SDK shows a missing message as "UnknownError"; on the wire it is empty.
		r := s.post("TrentService.CreateAlias", []byte(`{"AliasName":"`+name+`","TargetKeyId":"`+id+`"}`))
		if msg := wireError(t, r, "NotAuthorizedException"); msg != "" {
			t.Errorf("%s: message %q, want none", name, msg)
		}
	}
	// Every allowed character, and names that only look like the reserved prefix.
	for _, name := range []string{"alias/my-alias_/", "alias/Az09/_-", "alias/aws", "alias/awsome/key"} {
		s.createAlias(name, id)
	}
	if got := s.listAliases(id); len(got) != 5 {
		t.Fatalf("aliases %v, want alias/keep and the 4 accepted names", got)
	}
}

// TestUpdateAliasKeepsTypeAndUsage: UpdateAlias moves an alias to a key of
// the same type (symmetric, asymmetric or HMAC) and key usage, whatever its
// key spec, as AWS documents, and refuses any other.
func TestUpdateAliasKeepsTypeAndUsage(t *testing.T) {
	s := newServer(t)
	newKey := func(spec types.KeySpec, usage types.KeyUsageType) string {
		t.Helper()
		out, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		if err != nil {
			t.Fatalf("CreateKey %s %s: %v", spec, usage, err)
		}
		return aws.ToString(out.KeyMetadata.KeyId)
	}
	rsaSign := newKey(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	s.createAlias("alias/signer", rsaSign)
	for _, next := range []string{newKey(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify), newKey(types.KeySpecRsa4096, types.KeyUsageTypeSignVerify)} {
		if _, err := s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/signer"), TargetKeyId: aws.String(next)}); err != nil {
			t.Fatalf("UpdateAlias to another asymmetric signing key: %v", err)
		}
		if got := aws.ToString(s.describe("alias/signer").KeyId); got != next {
			t.Fatalf("alias/signer points at %s, want %s", got, next)
		}
	}
	last := aws.ToString(s.describe("alias/signer").KeyId)
	for _, other := range []string{
		newKey(types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt),
		newKey(types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt),
		newKey(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac),
	} {
		_, err := s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/signer"), TargetKeyId: aws.String(other)})
		wantCode(t, err, "ValidationException")
	}
	if got := aws.ToString(s.describe("alias/signer").KeyId); got != last {
		t.Fatalf("a refused UpdateAlias moved the alias to %s", got)
	}
}
