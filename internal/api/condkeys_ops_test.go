package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// keyOp is an operation whose only input is the key.
func keyOp(name string, prepare func(*testing.T, *kms.Client, *testKey), call func(*kms.Client, string) error, own ...condRow) opCase {
	return opCase{
		name: name, action: "kms:" + name, kind: &symmetric, prepare: prepare, rows: rows(resourceRows(symmetric), own),
		call: func(_ *testing.T, c *kms.Client, k *testKey) error { return call(c, k.id) },
	}
}

func managementCases() []opCase {
	id := aws.String
	disable := func(t *testing.T, c *kms.Client, k *testKey) {
		if _, err := c.DisableKey(bg, &kms.DisableKeyInput{KeyId: id(k.id)}); err != nil {
			t.Fatalf("DisableKey: %v", err)
		}
	}
	schedule := func(t *testing.T, c *kms.Client, k *testKey) {
		if _, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: id(k.id), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatalf("ScheduleKeyDeletion: %v", err)
		}
	}
	n := 0
	return []opCase{
		keyOp("CancelKeyDeletion", schedule, func(c *kms.Client, k string) error {
			_, err := c.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: id(k)})
			return err
		}),
		keyOp("EnableKey", disable, func(c *kms.Client, k string) error {
			_, err := c.EnableKey(bg, &kms.EnableKeyInput{KeyId: id(k)})
			return err
		}),
		keyOp("DisableKey", nil, func(c *kms.Client, k string) error {
			_, err := c.DisableKey(bg, &kms.DisableKeyInput{KeyId: id(k)})
			return err
		}, unusedRow),
		keyOp("ScheduleKeyDeletion", nil, func(c *kms.Client, k string) error {
			_, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: id(k), PendingWindowInDays: aws.Int32(7)})
			return err
		}, unusedRow, condRow{key: "kms:ScheduleKeyDeletionPendingWindowInDays",
			match: condNum("NumericLessThan", "kms:ScheduleKeyDeletionPendingWindowInDays", 30),
			other: condNum("NumericGreaterThan", "kms:ScheduleKeyDeletionPendingWindowInDays", 7)}),
		keyOp("EnableKeyRotation", nil, func(c *kms.Client, k string) error {
			_, err := c.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: id(k), RotationPeriodInDays: aws.Int32(180)})
			return err
		}, condRow{key: "kms:RotationPeriodInDays",
			match: condNum("NumericLessThanEquals", "kms:RotationPeriodInDays", 180),
			other: condNum("NumericGreaterThan", "kms:RotationPeriodInDays", 180)}),
		keyOp("DisableKeyRotation", nil, func(c *kms.Client, k string) error {
			_, err := c.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: id(k)})
			return err
		}),
		keyOp("RotateKeyOnDemand", nil, func(c *kms.Client, k string) error {
			_, err := c.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: id(k)})
			return err
		}),
		keyOp("GetKeyRotationStatus", nil, func(c *kms.Client, k string) error {
			_, err := c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: id(k)})
			return err
		}),
		keyOp("ListKeyRotations", nil, func(c *kms.Client, k string) error {
			_, err := c.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: id(k)})
			return err
		}),
		keyOp("GetKeyLastUsage", nil, func(c *kms.Client, k string) error {
			_, err := c.GetKeyLastUsage(bg, &kms.GetKeyLastUsageInput{KeyId: id(k)})
			return err
		}),
		keyOp("GetKeyPolicy", nil, func(c *kms.Client, k string) error {
			_, err := c.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: id(k)})
			return err
		}),
		keyOp("ListKeyPolicies", nil, func(c *kms.Client, k string) error {
			_, err := c.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: id(k)})
			return err
		}),
		keyOp("PutKeyPolicy", nil, func(c *kms.Client, k string) error {
			_, err := c.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: id(k), Policy: id(keyPolicy("kms:Decrypt", "")), BypassPolicyLockoutSafetyCheck: true})
			return err
		}, condRow{key: "kms:BypassPolicyLockoutSafetyCheck",
			match: condBool("kms:BypassPolicyLockoutSafetyCheck", true), other: condBool("kms:BypassPolicyLockoutSafetyCheck", false)}),
		keyOp("UpdateKeyDescription", nil, func(c *kms.Client, k string) error {
			_, err := c.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: id(k), Description: id("d")})
			return err
		}),
		keyOp("ListResourceTags", nil, func(c *kms.Client, k string) error {
			_, err := c.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: id(k)})
			return err
		}),
		keyOp("TagResource", nil, func(c *kms.Client, k string) error {
			_, err := c.TagResource(bg, &kms.TagResourceInput{KeyId: id(k), Tags: []types.Tag{{TagKey: id("Owner"), TagValue: id("alice")}}})
			return err
		}, condRow{key: "aws:RequestTag/Owner", match: condEq("aws:RequestTag/Owner", "alice"), other: condEq("aws:RequestTag/Owner", "bob")},
			condRow{key: "aws:TagKeys", match: condAny("aws:TagKeys", "Owner"), other: condAny("aws:TagKeys", "Env")}),
		keyOp("UntagResource", nil, func(c *kms.Client, k string) error {
			_, err := c.UntagResource(bg, &kms.UntagResourceInput{KeyId: id(k), TagKeys: []string{"Env"}})
			return err
		}, condRow{key: "aws:TagKeys", match: condAny("aws:TagKeys", "Env"), other: condAny("aws:TagKeys", "Owner")}),
		keyOp("CreateAlias", nil, func(c *kms.Client, k string) error {
			n++
			_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: id("alias/new-" + strconv.Itoa(n)), TargetKeyId: id(k)})
			return err
		}),
		{name: "UpdateAlias", action: "kms:UpdateAlias", kind: &symmetric, rows: resourceRows(symmetric),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: id(k.alias), TargetKeyId: id(k.id)})
				return err
			}},
		{name: "DeleteAlias", action: "kms:DeleteAlias", kind: &symmetric, rows: resourceRows(symmetric),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: id(k.alias)})
				return err
			}},
	}
}

func grantCases() []opCase {
	id := aws.String
	grant := func(t *testing.T, c *kms.Client, k *testKey) {
		out, err := c.CreateGrant(bg, &kms.CreateGrantInput{
			KeyId: id(k.id), GranteePrincipal: id("arn:aws:iam::" + testAccount + ":user/alice"), RetiringPrincipal: id("arn:aws:iam::" + testAccount + ":root"),
			Operations: []types.GrantOperation{types.GrantOperationDecrypt}, Constraints: &types.GrantConstraints{EncryptionContextEquals: ec},
		})
		if err != nil {
			t.Fatalf("CreateGrant: %v", err)
		}
		k.grantID = *out.GrantId
	}
	constraintType := condRow{key: "kms:GrantConstraintType", match: condEq("kms:GrantConstraintType", "EncryptionContextEquals"), other: condEq("kms:GrantConstraintType", "EncryptionContextSubset")}
	return []opCase{
		{name: "CreateGrant", action: "kms:CreateGrant", kind: &symmetric,
			rows: rows(resourceRows(symmetric), contextRows, one(constraintType, awsResourceRow,
				condRow{key: "kms:GrantOperations", match: `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, other: condAny("kms:GrantOperations", "GenerateDataKey")},
				condRow{key: "kms:GranteePrincipal", match: condEq("kms:GranteePrincipal", "arn:aws:iam::"+testAccount+":user/alice"), other: condEq("kms:GranteePrincipal", "arn:aws:iam::"+testAccount+":user/bob")},
				condRow{key: "kms:RetiringPrincipal", match: condEq("kms:RetiringPrincipal", "arn:aws:iam::"+testAccount+":root"), other: condEq("kms:RetiringPrincipal", "arn:aws:iam::"+otherAccount+":root")},
				condRow{key: "kms:GranteeServicePrincipal", match: condNull("kms:GranteeServicePrincipal", true), other: condNull("kms:GranteeServicePrincipal", false)})),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.CreateGrant(bg, &kms.CreateGrantInput{
					KeyId: id(k.id), GranteePrincipal: id("arn:aws:iam::" + testAccount + ":user/alice"), RetiringPrincipal: id("arn:aws:iam::" + testAccount + ":root"),
					Operations: []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt}, Constraints: &types.GrantConstraints{EncryptionContextEquals: ec},
				})
				return err
			}},
		{name: "CreateGrant(service principal)", action: "kms:CreateGrant", kind: &symmetric,
			rows: one(
				condRow{key: "kms:GranteeServicePrincipal", match: condEq("kms:GranteeServicePrincipal", "logs.amazonaws.com"), other: condEq("kms:GranteeServicePrincipal", "s3.amazonaws.com")},
				condRow{key: "kms:RetiringServicePrincipal", match: condEq("kms:RetiringServicePrincipal", "logs.amazonaws.com"), other: condEq("kms:RetiringServicePrincipal", "s3.amazonaws.com")},
				condRow{key: "kms:GrantConstraintSourceArn", match: `{"ArnLike":{"kms:GrantConstraintSourceArn":"arn:aws:logs:*:` + testAccount + `:log-group:*"}}`, other: `{"ArnLike":{"kms:GrantConstraintSourceArn":"arn:aws:s3:::*"}}`},
				condRow{key: "kms:GranteePrincipal", match: condNull("kms:GranteePrincipal", true), other: condNull("kms:GranteePrincipal", false)}),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.CreateGrant(bg, &kms.CreateGrantInput{
					KeyId: id(k.id), GranteeServicePrincipal: id("logs.amazonaws.com"), RetiringServicePrincipal: id("logs.amazonaws.com"),
					Operations:  []types.GrantOperation{types.GrantOperationDecrypt},
					Constraints: &types.GrantConstraints{SourceArn: id("arn:aws:logs:us-east-1:" + testAccount + ":log-group:app")},
				})
				return err
			}},
		{name: "ListGrants", action: "kms:ListGrants", kind: &symmetric, rows: rows(resourceRows(symmetric), one(awsResourceRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.ListGrants(bg, &kms.ListGrantsInput{KeyId: id(k.id)})
				return err
			}},
		{name: "RevokeGrant", action: "kms:RevokeGrant", kind: &symmetric, prepare: grant, rows: rows(resourceRows(symmetric), one(awsResourceRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: id(k.id), GrantId: id(k.grantID)})
				return err
			}},
		{name: "RetireGrant", action: "kms:RetireGrant", kind: &symmetric, prepare: grant, rows: rows(resourceRows(symmetric), contextRows, one(constraintType)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.RetireGrant(bg, &kms.RetireGrantInput{KeyId: id(k.arn), GrantId: id(k.grantID)})
				return err
			}},
	}
}

func importCases(validTo time.Time) []opCase {
	id := aws.String
	withParams := func(t *testing.T, c *kms.Client, k *testKey) { importParams(t, c, k) }
	importMaterial := func(c *kms.Client, k *testKey, wrapped []byte) error {
		_, err := c.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{
			KeyId: id(k.id), ImportToken: k.params.ImportToken, EncryptedKeyMaterial: wrapped,
			ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: aws.Time(validTo),
		})
		return err
	}
	ext := resourceRows(external)
	return []opCase{
		{name: "GetParametersForImport", action: "kms:GetParametersForImport", kind: &external,
			rows: rows(ext, one(
				condRow{key: "kms:WrappingAlgorithm", match: condEq("kms:WrappingAlgorithm", "RSAES_OAEP_SHA_256"), other: condEq("kms:WrappingAlgorithm", "RSAES_OAEP_SHA_1")},
				condRow{key: "kms:WrappingKeySpec", match: condEq("kms:WrappingKeySpec", "RSA_2048"), other: condEq("kms:WrappingKeySpec", "RSA_4096")})),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: id(k.id), WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
				return err
			}},
		{name: "ImportKeyMaterial", action: "kms:ImportKeyMaterial", kind: &external, prepare: withParams,
			rows: rows(ext, one(
				condRow{key: "kms:ExpirationModel", match: condEq("kms:ExpirationModel", "KEY_MATERIAL_EXPIRES"), other: condEq("kms:ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")},
				condRow{key: "kms:ValidTo", match: condNum("NumericLessThanEquals", "kms:ValidTo", validTo.Unix()), other: condNum("NumericGreaterThan", "kms:ValidTo", validTo.Unix())},
				condRow{key: "kms:ValidTo (date)", match: `{"DateLessThan":{"kms:ValidTo":"` + validTo.Add(time.Hour).Format(time.RFC3339) + `"}}`, other: `{"DateLessThan":{"kms:ValidTo":"` + validTo.Format(time.RFC3339) + `"}}`})),
			call: func(t *testing.T, c *kms.Client, k *testKey) error {
				return importMaterial(c, k, wrapForImport(t, k.params))
			}},
		{name: "DeleteImportedKeyMaterial", action: "kms:DeleteImportedKeyMaterial", kind: &external, rows: ext,
			prepare: func(t *testing.T, c *kms.Client, k *testKey) {
				importParams(t, c, k)
				if err := importMaterial(c, k, wrapForImport(t, k.params)); err != nil {
					t.Fatalf("ImportKeyMaterial: %v", err)
				}
			},
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: id(k.id)})
				return err
			}},
	}
}

func multiRegionCases() []opCase {
	id := aws.String
	return []opCase{
		{name: "ReplicateKey", action: "kms:ReplicateKey", kind: &primary,
			rows: rows(resourceRows(primary), one(condRow{key: "kms:ReplicaRegion", match: condEq("kms:ReplicaRegion", otherRegion), other: condEq("kms:ReplicaRegion", "eu-west-1")})),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: id(k.id), ReplicaRegion: id(otherRegion)})
				return err
			}},
		{name: "UpdatePrimaryRegion", action: "kms:UpdatePrimaryRegion", kind: &primary,
			rows: rows(resourceRows(primary), one(condRow{key: "kms:PrimaryRegion", match: condEq("kms:PrimaryRegion", otherRegion), other: condEq("kms:PrimaryRegion", "eu-west-1")})),
			prepare: func(t *testing.T, c *kms.Client, k *testKey) {
				if _, err := c.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: id(k.id), ReplicaRegion: id(otherRegion)}); err != nil {
					t.Fatalf("ReplicateKey: %v", err)
				}
			},
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: id(k.arn), PrimaryRegion: id(otherRegion)})
				return err
			}},
	}
}

// noKeyCases are authorized by identity policies alone.
func noKeyCases() []opCase {
	id := aws.String
	return []opCase{
		{name: "CreateKey", action: "kms:CreateKey",
			rows: one(
				condRow{key: "kms:CallerAccount", match: condEq("kms:CallerAccount", testAccount), other: condEq("kms:CallerAccount", otherAccount)},
				condRow{key: "kms:ViaService", match: condNull("kms:ViaService", true), other: condNull("kms:ViaService", false)},
				condRow{key: "kms:KeySpec", match: condEq("kms:KeySpec", "SYMMETRIC_DEFAULT"), other: condEq("kms:KeySpec", "RSA_4096")},
				condRow{key: "kms:CustomerMasterKeySpec", match: condEq("kms:CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"), other: condEq("kms:CustomerMasterKeySpec", "RSA_4096")},
				condRow{key: "kms:KeyUsage", match: condEq("kms:KeyUsage", "ENCRYPT_DECRYPT"), other: condEq("kms:KeyUsage", "SIGN_VERIFY")},
				condRow{key: "kms:KeyOrigin", match: condEq("kms:KeyOrigin", "AWS_KMS"), other: condEq("kms:KeyOrigin", "EXTERNAL")},
				condRow{key: "kms:MultiRegion", match: condBool("kms:MultiRegion", true), other: condBool("kms:MultiRegion", false)},
				condRow{key: "kms:MultiRegionKeyType", match: condEq("kms:MultiRegionKeyType", "PRIMARY"), other: condEq("kms:MultiRegionKeyType", "REPLICA")},
				condRow{key: "kms:BypassPolicyLockoutSafetyCheck", match: condBool("kms:BypassPolicyLockoutSafetyCheck", true), other: condBool("kms:BypassPolicyLockoutSafetyCheck", false)},
				condRow{key: "aws:RequestTag/Env", match: condEq("aws:RequestTag/Env", "test"), other: condEq("aws:RequestTag/Env", "prod")},
				condRow{key: "aws:TagKeys", match: condAny("aws:TagKeys", "Env"), other: condAny("aws:TagKeys", "Owner")}),
			call: func(_ *testing.T, c *kms.Client, _ *testKey) error {
				_, err := c.CreateKey(bg, &kms.CreateKeyInput{
					MultiRegion: aws.Bool(true), Policy: id(keyPolicy("kms:Decrypt", "")), BypassPolicyLockoutSafetyCheck: true,
					Tags: []types.Tag{{TagKey: id("Env"), TagValue: id("test")}},
				})
				return err
			}},
		{name: "GenerateRandom", action: "kms:GenerateRandom", rows: one(attestationRow),
			call: func(_ *testing.T, c *kms.Client, _ *testKey) error {
				_, err := c.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16)})
				return err
			}},
	}
}
