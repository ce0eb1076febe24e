package policy

import (
	"errors"
	"testing"
)

// documentedKMSKeys are the kms: condition keys of AWS's "AWS KMS
// condition keys" page and its service authorization reference, as AWS
// writes them, with where AWS permits them.
var documentedKMSKeys = []struct {
	key     string
	iamOnly bool
}{
	{"kms:BypassPolicyLockoutSafetyCheck", false},
	{"kms:CallerAccount", false},
	{"kms:CustomerMasterKeySpec", false},
	{"kms:CustomerMasterKeyUsage", false},
	{"kms:DataKeyPairSpec", false},
	{"kms:EncryptionAlgorithm", false},
	{"kms:EncryptionContext:AppName", false},
	{"kms:EncryptionContextKeys", false},
	{"kms:ExpirationModel", false},
	{"kms:GrantConstraintSourceArn", false},
	{"kms:GrantConstraintType", false},
	{"kms:GrantIsForAWSResource", false},
	{"kms:GrantOperations", false},
	{"kms:GranteePrincipal", false},
	{"kms:GranteeServicePrincipal", false},
	{"kms:KeyAgreementAlgorithm", false},
	{"kms:KeyOrigin", false},
	{"kms:KeySpec", false},
	{"kms:KeyUsage", false},
	{"kms:MacAlgorithm", false},
	{"kms:MessageType", false},
	{"kms:MultiRegion", false},
	{"kms:MultiRegionKeyType", false},
	{"kms:PrimaryRegion", false},
	{"kms:ReEncryptOnSameKey", false},
	{"kms:RecipientAttestation:ImageSha384", false},
	{"kms:RecipientAttestation:PCR0", false},
	{"kms:RecipientAttestation:NitroTPMPCR0", false},
	{"kms:ReplicaRegion", false},
	{"kms:RequestAlias", false},
	{"kms:ResourceAliases", true},
	{"kms:RetiringPrincipal", false},
	{"kms:RetiringServicePrincipal", false},
	{"kms:RotationPeriodInDays", false},
	{"kms:ScheduleKeyDeletionPendingWindowInDays", false},
	{"kms:SigningAlgorithm", false},
	{"kms:TrailingDaysWithoutKeyUsage", false},
	{"kms:ValidTo", false},
	{"kms:ViaService", false},
	{"kms:WrappingAlgorithm", false},
	{"kms:WrappingKeySpec", false},
	{"aws:ResourceTag/Project", true},
}

// TestDocumentedKeysInKeyPolicies: a key policy may use every condition key
// AWS documents for key policies, and none of those AWS keeps to IAM
// policies; identity policies take them all.
func TestDocumentedKeysInKeyPolicies(t *testing.T) {
	for _, k := range documentedKMSKeys {
		t.Run(k.key, func(t *testing.T) {
			d := doc(stmt(allow, rootAP, kmsAll, anyRes), stmt(deny, anyP, kmsAll, anyRes, cond(`{"Null":{"`+k.key+`":"false"}}`)))
			_, err := ParseKeyPolicy(d)
			var me *MalformedError
			switch {
			case k.iamOnly && (!errors.As(err, &me) || me.Message != MsgKeyPolicyConditionKeys):
				t.Fatalf("key policy: err = %v, want %q", err, MsgKeyPolicyConditionKeys)
			case !k.iamOnly && err != nil:
				t.Fatalf("key policy: %v", err)
			}
			if _, err := ParseIdentityPolicy(doc(stmt(deny, kmsAll, anyRes, cond(`{"Null":{"`+k.key+`":"false"}}`)))); err != nil {
				t.Fatalf("identity policy: %v", err)
			}
		})
	}
}
