package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// opCase is one operation of the condition key table: the action a policy
// names, the key it acts on (nil: none), what must exist before the call,
// the call, and the operation's own documented condition keys.
type opCase struct {
	name    string
	action  string
	kind    *keyKind
	prepare func(t *testing.T, root *kms.Client, k *testKey)
	call    func(t *testing.T, c *kms.Client, k *testKey) error
	rows    []condRow
}

// condRow is one documented condition key: a condition on it that holds
// for the table's call and one that does not. {alias} stands for the
// key's alias.
type condRow struct {
	key          string
	match, other string
	iamOnly      bool // AWS permits the key in IAM policies only
}

const otherAccount = "444455556666"

// resourceRows are the keys of every KMS key resource operation: the
// caller's account, the calling service (none: kmsd has no forward access
// sessions), and the key's own properties, aliases and tags.
func resourceRows(kind keyKind) []condRow {
	otherSpec, otherUsage := "RSA_4096", "SIGN_VERIFY"
	if kind.usage == types.KeyUsageTypeSignVerify {
		otherUsage = "ENCRYPT_DECRYPT"
	}
	mrkType, mrkOther := condNull("kms:MultiRegionKeyType", true), condNull("kms:MultiRegionKeyType", false)
	if kind.multi {
		mrkType, mrkOther = condEq("kms:MultiRegionKeyType", "PRIMARY"), condEq("kms:MultiRegionKeyType", "REPLICA")
	}
	return []condRow{
		{key: "kms:CallerAccount", match: condEq("kms:CallerAccount", testAccount), other: condEq("kms:CallerAccount", otherAccount)},
		{key: "kms:ViaService", match: condNull("kms:ViaService", true), other: condNull("kms:ViaService", false)},
		{key: "kms:KeySpec", match: condEq("kms:KeySpec", string(kind.spec)), other: condEq("kms:KeySpec", otherSpec)},
		{key: "kms:KeyUsage", match: condEq("kms:KeyUsage", string(kind.usage)), other: condEq("kms:KeyUsage", otherUsage)},
		{key: "kms:KeyOrigin", match: condEq("kms:KeyOrigin", string(kind.origin)), other: condEq("kms:KeyOrigin", "AWS_CLOUDHSM")},
		{key: "kms:MultiRegion", match: condBool("kms:MultiRegion", kind.multi), other: condBool("kms:MultiRegion", !kind.multi)},
		{key: "kms:MultiRegionKeyType", match: mrkType, other: mrkOther},
		{key: "kms:ResourceAliases", match: condAny("kms:ResourceAliases", "{alias}"), other: condAny("kms:ResourceAliases", "alias/other"), iamOnly: true},
		{key: "aws:ResourceTag/Env", match: condEq("aws:ResourceTag/Env", "test"), other: condEq("aws:ResourceTag/Env", "prod"), iamOnly: true},
	}
}

// Rows shared by several operations.
var (
	requestAliasRow = condRow{key: "kms:RequestAlias", match: condEq("kms:RequestAlias", "{alias}"), other: condEq("kms:RequestAlias", "alias/other")}
	symmetricAlgRow = condRow{key: "kms:EncryptionAlgorithm", match: condEq("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"), other: condEq("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256")}
	contextRows     = []condRow{
		{key: "kms:EncryptionContext:purpose", match: condEq("kms:EncryptionContext:purpose", "test"), other: condEq("kms:EncryptionContext:purpose", "prod")},
		{key: "kms:EncryptionContextKeys", match: condAny("kms:EncryptionContextKeys", "purpose"), other: condAny("kms:EncryptionContextKeys", "stage")},
	}
	attestationRow = condRow{key: "kms:RecipientAttestation:ImageSha384", match: condNull("kms:RecipientAttestation:ImageSha384", true), other: condNull("kms:RecipientAttestation:ImageSha384", false)}
	awsResourceRow = condRow{key: "kms:GrantIsForAWSResource", match: condBool("kms:GrantIsForAWSResource", false), other: condBool("kms:GrantIsForAWSResource", true)}
	unusedRow      = condRow{key: "kms:TrailingDaysWithoutKeyUsage", match: condNum("NumericLessThanEquals", "kms:TrailingDaysWithoutKeyUsage", 30), other: condNum("NumericGreaterThan", "kms:TrailingDaysWithoutKeyUsage", 30)}
)

var ec = map[string]string{"purpose": "test"}

func rows(groups ...[]condRow) []condRow {
	var out []condRow
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(r ...condRow) []condRow { return r }

func conditionKeyTable() []opCase {
	validTo := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	out := append(cryptoCases(), managementCases()...)
	out = append(out, grantCases()...)
	out = append(out, importCases(validTo)...)
	out = append(out, multiRegionCases()...)
	return append(out, noKeyCases()...)
}

func cryptoCases() []opCase {
	encrypt := func(t *testing.T, c *kms.Client, k *testKey) {
		t.Helper()
		out, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.id), Plaintext: msg, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		k.blob = out.CiphertextBlob
	}
	sym := rows(resourceRows(symmetric), one(requestAliasRow, symmetricAlgRow), contextRows)
	reEncrypt := func(_ *testing.T, c *kms.Client, k *testKey) error {
		_, err := c.ReEncrypt(bg, &kms.ReEncryptInput{
			CiphertextBlob: k.blob, SourceKeyId: aws.String(k.alias), DestinationKeyId: aws.String(k.alias),
			SourceEncryptionContext: ec, DestinationEncryptionContext: ec,
		})
		return err
	}
	sameKey := condRow{key: "kms:ReEncryptOnSameKey", match: condBool("kms:ReEncryptOnSameKey", true), other: condBool("kms:ReEncryptOnSameKey", false)}
	pairSpec := condRow{key: "kms:DataKeyPairSpec", match: condEq("kms:DataKeyPairSpec", "ECC_NIST_P256"), other: condEq("kms:DataKeyPairSpec", "RSA_2048")}
	signRows := rows(resourceRows(signing), one(requestAliasRow,
		condRow{key: "kms:SigningAlgorithm", match: condEq("kms:SigningAlgorithm", "ECDSA_SHA_256"), other: condEq("kms:SigningAlgorithm", "ECDSA_SHA_384")},
		condRow{key: "kms:MessageType", match: condEq("kms:MessageType", "RAW"), other: condEq("kms:MessageType", "DIGEST")}))
	macRows := rows(resourceRows(hmacKey), one(requestAliasRow,
		condRow{key: "kms:MacAlgorithm", match: condEq("kms:MacAlgorithm", "HMAC_SHA_256"), other: condEq("kms:MacAlgorithm", "HMAC_SHA_512")}))
	kemRows := rows(resourceRows(kemKey), one(requestAliasRow))
	return []opCase{
		{name: "Encrypt", action: "kms:Encrypt", kind: &symmetric, rows: sym,
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.alias), Plaintext: msg, EncryptionContext: ec})
				return err
			}},
		{name: "Decrypt", action: "kms:Decrypt", kind: &symmetric, prepare: encrypt, rows: rows(sym, one(attestationRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Decrypt(bg, &kms.DecryptInput{KeyId: aws.String(k.alias), CiphertextBlob: k.blob, EncryptionContext: ec})
				return err
			}},
		{name: "ReEncrypt(From)", action: "kms:ReEncryptFrom", kind: &symmetric, prepare: encrypt, rows: rows(sym, one(sameKey)), call: reEncrypt},
		{name: "ReEncrypt(To)", action: "kms:ReEncryptTo", kind: &symmetric, prepare: encrypt, rows: rows(sym, one(sameKey)), call: reEncrypt},
		{name: "GenerateDataKey", action: "kms:GenerateDataKey", kind: &symmetric, rows: rows(sym, one(attestationRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(k.alias), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
				return err
			}},
		{name: "GenerateDataKeyWithoutPlaintext", action: "kms:GenerateDataKeyWithoutPlaintext", kind: &symmetric, rows: sym,
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(k.alias), NumberOfBytes: aws.Int32(16), EncryptionContext: ec})
				return err
			}},
		{name: "GenerateDataKeyPair", action: "kms:GenerateDataKeyPair", kind: &symmetric, rows: rows(sym, one(pairSpec, attestationRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: aws.String(k.alias), KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
				return err
			}},
		{name: "GenerateDataKeyPairWithoutPlaintext", action: "kms:GenerateDataKeyPairWithoutPlaintext", kind: &symmetric, rows: rows(sym, one(pairSpec)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: aws.String(k.alias), KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
				return err
			}},
		{name: "DescribeKey", action: "kms:DescribeKey", kind: &symmetric, rows: rows(resourceRows(symmetric), one(requestAliasRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(k.alias)})
				return err
			}},
		{name: "Sign", action: "kms:Sign", kind: &signing, rows: signRows,
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Sign(bg, &kms.SignInput{KeyId: aws.String(k.alias), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
				return err
			}},
		{name: "Verify", action: "kms:Verify", kind: &signing, rows: signRows,
			prepare: func(t *testing.T, c *kms.Client, k *testKey) {
				out, err := c.Sign(bg, &kms.SignInput{KeyId: aws.String(k.id), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				k.sig = out.Signature
			},
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Verify(bg, &kms.VerifyInput{KeyId: aws.String(k.alias), Message: msg, Signature: k.sig, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
				return err
			}},
		{name: "GetPublicKey", action: "kms:GetPublicKey", kind: &signing, rows: rows(resourceRows(signing), one(requestAliasRow)),
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: aws.String(k.alias)})
				return err
			}},
		{name: "GenerateMac", action: "kms:GenerateMac", kind: &hmacKey, rows: macRows,
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(k.alias), Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
				return err
			}},
		{name: "VerifyMac", action: "kms:VerifyMac", kind: &hmacKey, rows: macRows,
			prepare: func(t *testing.T, c *kms.Client, k *testKey) {
				out, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(k.id), Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
				if err != nil {
					t.Fatalf("GenerateMac: %v", err)
				}
				k.mac = out.Mac
			},
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.VerifyMac(bg, &kms.VerifyMacInput{KeyId: aws.String(k.alias), Message: msg, Mac: k.mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
				return err
			}},
		{name: "DeriveSharedSecret", action: "kms:DeriveSharedSecret", kind: &agreement,
			rows: rows(resourceRows(agreement), one(requestAliasRow, attestationRow,
				condRow{key: "kms:KeyAgreementAlgorithm", match: condEq("kms:KeyAgreementAlgorithm", "ECDH"), other: condEq("kms:KeyAgreementAlgorithm", "ECDH_X25519")})),
			call: func(t *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: aws.String(k.alias), KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerPublicKey(t)})
				return err
			}},
		{name: "Encapsulate", action: "kms:Encapsulate", kind: &kemKey, rows: kemRows,
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Encapsulate(bg, &kms.EncapsulateInput{KeyId: aws.String(k.alias), EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
				return err
			}},
		{name: "Decapsulate", action: "kms:Decapsulate", kind: &kemKey, rows: kemRows,
			prepare: func(t *testing.T, c *kms.Client, k *testKey) {
				out, err := c.Encapsulate(bg, &kms.EncapsulateInput{KeyId: aws.String(k.id), EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
				if err != nil {
					t.Fatalf("Encapsulate: %v", err)
				}
				k.blob = out.SharedSecretCiphertextBlob
			},
			call: func(_ *testing.T, c *kms.Client, k *testKey) error {
				_, err := c.Decapsulate(bg, &kms.DecapsulateInput{KeyId: aws.String(k.alias), SharedSecretCiphertextBlob: k.blob, EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
				return err
			}},
	}
}
