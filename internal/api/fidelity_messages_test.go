package api_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestMessagesRecordedFromAWS replays, through the SDK, the error scenarios
// recorded against the real AWS KMS (the reference's
// aws-recorded-responses.json) and checks kmsd answers the same exception
// with the same message, character for character.
func TestMessagesRecordedFromAWS(t *testing.T) {
	s := newServer(t)
	c := s.Client
	create := func(in *kms.CreateKeyInput) *types.KeyMetadata {
		t.Helper()
		out, err := c.CreateKey(bg, in)
		if err != nil {
			t.Fatalf("CreateKey %+v: %v", in, err)
		}
		return out.KeyMetadata
	}
	sym := create(&kms.CreateKeyInput{})
	other := create(&kms.CreateKeyInput{})
	hmac224 := create(&kms.CreateKeyInput{KeySpec: types.KeySpecHmac224, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	signer := create(&kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	rsaEnc := create(&kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	external := create(&kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	disabled := create(&kms.CreateKeyInput{})
	s.disable(aws.ToString(disabled.KeyId))
	ct := s.encrypt(aws.ToString(sym.KeyId), []byte("recorded"), nil).CiphertextBlob
	unknown := "00000000-1111-2222-3333-444444444444"
	arn := aws.ToString
	digest := sha256.Sum256([]byte("m"))

	cases := []struct {
		name, code, msg string
		call            func() error
	}{
		{"invalid key id", "NotFoundException", "Invalid keyId 'fake-key-id'", func() error {
			_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("fake-key-id")})
			return err
		}},
		{"UUID without dashes", "NotFoundException", "Invalid keyId '134f2428cec14b25a1ae9048164dba47'", func() error {
			_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("134f2428cec14b25a1ae9048164dba47")})
			return err
		}},
		{"invalid mrk id", "NotFoundException", "Invalid keyId 'mrk-fake-key-id'", func() error {
			_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("mrk-fake-key-id")})
			return err
		}},
		{"key ARN of another Region", "NotFoundException", "Invalid arn " + otherRegion, func() error {
			_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(keyARN(otherRegion, arn(sym.KeyId)))})
			return err
		}},
		{"unknown key", "NotFoundException", "Key '" + keyARN(testRegion, unknown) + "' does not exist", func() error {
			_, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(unknown)})
			return err
		}},
		{"alias without prefix", "ValidationException", `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`, func() error {
			_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("app"), TargetKeyId: sym.KeyId})
			return err
		}},
		{"key usage and key spec", "ValidationException", "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048", func() error {
			_, err := c.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeKeyAgreement})
			return err
		}},
		{"HMAC key without key usage", "ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.", func() error {
			_, err := c.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256})
			return err
		}},
		{"MAC algorithm of another spec", "InvalidKeyUsageException", "Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.", func() error {
			_, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: hmac224.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
			return err
		}},
		{"GenerateMac with a symmetric key", "InvalidKeyUsageException", arn(sym.Arn) + " key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.", func() error {
			_, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: sym.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
			return err
		}},
		{"Sign with an HMAC key", "InvalidKeyUsageException", arn(hmac224.Arn) + " key usage is GENERATE_VERIFY_MAC which is not valid for Sign.", func() error {
			_, err := c.Sign(bg, &kms.SignInput{KeyId: hmac224.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}},
		{"Encrypt with a signing key", "InvalidKeyUsageException", arn(signer.Arn) + " key usage is SIGN_VERIFY which is not valid for Encrypt.", func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: signer.KeyId, Plaintext: []byte("m")})
			return err
		}},
		{"Decrypt naming another key", "IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.", func() error {
			_, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: ct, KeyId: other.KeyId})
			return err
		}},
		{"digest of the wrong length", "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.", func() error {
			_, err := c.Sign(bg, &kms.SignInput{KeyId: signer.KeyId, Message: digest[:31], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}},
		{"RSA plaintext too long", "ValidationException", "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.", func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: rsaEnc.KeyId, Plaintext: bytes.Repeat([]byte{1}, 215), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
			return err
		}},
		{"import parameters of an AWS_KMS key", "UnsupportedOperationException", arn(sym.Arn) + " origin is AWS_KMS which is not valid for this operation.", func() error {
			_, err := c.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: sym.KeyId, WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
			return err
		}},
		{"Encrypt before import", "KMSInvalidStateException", arn(external.Arn) + " is pending import.", func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: external.KeyId, Plaintext: []byte("m")})
			return err
		}},
		{"rotate a disabled key", "DisabledException", arn(disabled.Arn) + " is disabled.", func() error {
			_, err := c.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: disabled.KeyId})
			return err
		}},
		{"reserved tag key", "TagException", "Tags beginning with aws: are reserved", func() error {
			_, err := c.TagResource(bg, &kms.TagResourceInput{KeyId: sym.KeyId, Tags: []types.Tag{{TagKey: aws.String("AWS:x"), TagValue: aws.String("v")}}})
			return err
		}},
		{"duplicate tag keys", "TagException", "Duplicate tag keys", func() error {
			_, err := c.TagResource(bg, &kms.TagResourceInput{KeyId: sym.KeyId, Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("1")}, {TagKey: aws.String("k"), TagValue: aws.String("2")}}})
			return err
		}},
		{"DryRun", "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.", func() error {
			_, err := c.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: sym.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256, DryRun: aws.Bool(true)})
			return err
		}},
		{"GenerateRandom without a length", "ValidationException", "NumberOfBytes is required.", func() error {
			_, err := c.GenerateRandom(bg, &kms.GenerateRandomInput{})
			return err
		}},
	}
	longValue, longKey := strings.Repeat("v", 257), strings.Repeat("a", 129)
	cases = append(cases, []struct {
		name, code, msg string
		call            func() error
	}{
		{"tag value too long", "ValidationException", "1 validation error detected: Value '" + longValue + "' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256", func() error {
			_, err := c.CreateKey(bg, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String(longValue)}}})
			return err
		}},
		{"tag key too long", "ValidationException", "1 validation error detected: Value '" + longKey + "' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128", func() error {
			_, err := c.CreateKey(bg, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String(longKey), TagValue: aws.String("v")}}})
			return err
		}},
		{"GenerateRandom 0 bytes", "ValidationException", "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1", func() error {
			_, err := c.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(0)})
			return err
		}},
		{"GenerateRandom 1025 bytes", "ValidationException", "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", func() error {
			_, err := c.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
			return err
		}},
		{"plaintext too long", "ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096", func() error {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: sym.KeyId, Plaintext: make([]byte, 4097)})
			return err
		}},
		{"unknown MAC algorithm", "ValidationException", "1 validation error detected: Value 'INVALID' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]", func() error {
			_, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: hmac224.KeyId, Message: []byte("m"), MacAlgorithm: "INVALID"})
			return err
		}},
		{"unknown key agreement algorithm", "ValidationException", "1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]", func() error {
			_, err := c.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: sym.KeyId, KeyAgreementAlgorithm: "INVALID", PublicKey: []byte("k")})
			return err
		}},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.call(), tc.code, tc.msg) })
	}

	// Exceptions AWS sends without a message (the SDK shows a missing one
	// under another name, so these are read off the wire).
	agree := create(&kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	rsaSign := create(&kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	for _, tc := range []struct{ name, target, body, code string }{
		{"public key that is no key", "TrentService.DeriveSharedSecret",
			`{"KeyId":"` + arn(agree.KeyId) + `","KeyAgreementAlgorithm":"ECDH","PublicKey":"SW52YWxpZFB1YmxpY0tleQ=="}`, "ValidationException"},
		{"rotate an asymmetric key", "TrentService.RotateKeyOnDemand", `{"KeyId":"` + arn(rsaSign.KeyId) + `"}`, "UnsupportedOperationException"},
	} {
		if msg := wireError(t, s.post(tc.target, []byte(tc.body)), tc.code); msg != "" {
			t.Errorf("%s: message %q, want none, as AWS", tc.name, msg)
		}
	}
}
