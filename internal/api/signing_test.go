package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// verifyOffline checks a kmsd signature with Go's standard library, using
// nothing but the public key GetPublicKey returned.
func verifyOffline(t *testing.T, spki []byte, alg types.SigningAlgorithmSpec, msg, sig []byte) {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		t.Fatalf("GetPublicKey is not SPKI DER: %v", err)
	}
	switch alg {
	case types.SigningAlgorithmSpecEcdsaSha256:
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig) {
			t.Fatal("ECDSA signature does not verify offline")
		}
	case types.SigningAlgorithmSpecRsassaPssSha256:
		d := sha256.Sum256(msg)
		if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Fatalf("RSA-PSS signature does not verify offline: %v", err)
		}
	case types.SigningAlgorithmSpecRsassaPkcs1V15Sha512:
		d := sha512.Sum512(msg)
		if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA512, d[:], sig); err != nil {
			t.Fatalf("RSA PKCS#1 v1.5 signature does not verify offline: %v", err)
		}
	case types.SigningAlgorithmSpecEd25519Sha512:
		if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			t.Fatal("Ed25519 signature does not verify offline")
		}
	default:
		t.Fatalf("no offline check for %s", alg)
	}
}

func TestSignVerifyThroughTheSDK(t *testing.T) {
	s := newServer(t)
	msg := []byte("release v1.2.3 sha256:0f3c…")
	for _, tc := range []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPssSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPkcs1V15Sha512},
		{types.KeySpecEccNistEdwards25519, types.SigningAlgorithmSpecEd25519Sha512},
	} {
		t.Run(string(tc.spec)+"/"+string(tc.alg), func(t *testing.T) {
			ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeSignVerify})
			if err != nil {
				t.Fatal(err)
			}
			md := ck.KeyMetadata
			if md.KeySpec != tc.spec || md.KeyUsage != types.KeyUsageTypeSignVerify || len(md.SigningAlgorithms) == 0 || md.EncryptionAlgorithms != nil {
				t.Fatalf("metadata %+v", md)
			}
			sig, err := s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			if *sig.KeyId != *md.Arn || sig.SigningAlgorithm != tc.alg {
				t.Fatalf("Sign output %+v", sig)
			}
			pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: md.KeyId})
			if err != nil {
				t.Fatal(err)
			}
			if pk.KeySpec != tc.spec || pk.KeyUsage != types.KeyUsageTypeSignVerify || len(pk.SigningAlgorithms) == 0 {
				t.Fatalf("GetPublicKey output %+v", pk)
			}
			verifyOffline(t, pk.PublicKey, tc.alg, msg, sig.Signature)
			v, err := s.Client.Verify(bg, &kms.VerifyInput{KeyId: md.KeyId, Message: msg, Signature: sig.Signature, SigningAlgorithm: tc.alg})
			if err != nil || !v.SignatureValid {
				t.Fatalf("Verify: %v %+v", err, v)
			}
			bad := append([]byte(nil), sig.Signature...)
			bad[len(bad)/2] ^= 1
			_, err = s.Client.Verify(bg, &kms.VerifyInput{KeyId: md.KeyId, Message: msg, Signature: bad, SigningAlgorithm: tc.alg})
			wantError(t, err, "KMSInvalidSignatureException", "")
		})
	}
}

func TestSigningRulesAsAWS(t *testing.T) {
	s := newServer(t)
	_, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048})
	wantError(t, err, "ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	id, arn := ck.KeyMetadata.KeyId, *ck.KeyMetadata.Arn
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: id, Message: []byte("short"), MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: id, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha384})
	wantError(t, err, "InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantError(t, err, "InvalidKeyUsageException", arn+" key usage is SIGN_VERIFY which is not valid for Encrypt.")
	digest := sha256.Sum256([]byte("m"))
	sig, err := s.Client.Sign(bg, &kms.SignInput{KeyId: id, Message: digest[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	verifyOffline(t, pk.PublicKey, types.SigningAlgorithmSpecEcdsaSha256, []byte("m"), sig.Signature)

	sym := s.createKey("symmetric")
	_, err = s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: sym.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: sym.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "InvalidKeyUsageException", *sym.Arn+" key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
	if _, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: id, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "DisabledException", arn+" is disabled.")
}

func TestHMACThroughTheSDK(t *testing.T) {
	s := newServer(t)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	//lint:ignore SA1019 AWS still returns the deprecated field, so kmsd must too.
	if md.CustomerMasterKeySpec != types.CustomerMasterKeySpecHmac256 || len(md.MacAlgorithms) != 1 || md.MacAlgorithms[0] != types.MacAlgorithmSpecHmacSha256 || md.EncryptionAlgorithms != nil {
		t.Fatalf("HMAC key metadata %+v", md)
	}
	msg := []byte("webhook body")
	mac, err := s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil || len(mac.Mac) != 32 || *mac.KeyId != *md.Arn {
		t.Fatalf("GenerateMac: %v %+v", err, mac)
	}
	again, err := s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: md.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil || string(again.Mac) != string(mac.Mac) {
		t.Fatal("HMAC is not deterministic")
	}
	v, err := s.Client.VerifyMac(bg, &kms.VerifyMacInput{KeyId: md.KeyId, Message: msg, Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil || !v.MacValid {
		t.Fatalf("VerifyMac: %v", err)
	}
	_, err = s.Client.VerifyMac(bg, &kms.VerifyMacInput{KeyId: md.KeyId, Message: []byte("other body"), Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantError(t, err, "KMSInvalidMacException", "")
	_, err = s.Client.VerifyMac(bg, &kms.VerifyMacInput{KeyId: md.KeyId, Message: msg, Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha512})
	wantError(t, err, "InvalidKeyUsageException", "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantError(t, err, "InvalidKeyUsageException", *md.Arn+" key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.")
	sym := s.createKey("symmetric")
	_, err = s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: sym.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantError(t, err, "InvalidKeyUsageException", *sym.Arn+" key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")
	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("key_id")})
	wantError(t, err, "NotFoundException", "Invalid keyId 'key_id'")
}
