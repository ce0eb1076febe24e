package api_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestDataKeyPairs(t *testing.T) {
	s := newServer(t)
	wrap := s.createKey("wrapping")
	ec := map[string]string{"purpose": "device-cert"}
	out, err := s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: wrap.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if *out.KeyId != *wrap.Arn || out.KeyPairSpec != types.DataKeyPairSpecEccNistP256 || out.KeyMaterialId == nil {
		t.Fatalf("output %+v", out)
	}
	priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
	if err != nil {
		t.Fatalf("PrivateKeyPlaintext is not PKCS#8 DER: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil || !priv.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Fatalf("public key does not match the private key: %v", err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
		t.Fatalf("the encrypted private key does not decrypt to the plaintext one: %v", err)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob})
	wantError(t, err, "InvalidCiphertextException", "")

	np, err := s.Client.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: wrap.KeyId, KeyPairSpec: types.DataKeyPairSpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: np.PrivateKeyCiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := x509.ParsePKCS8PrivateKey(dec.Plaintext)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := x509.ParsePKIXPublicKey(np.PublicKey)
	if !rsaPriv.(*rsa.PrivateKey).PublicKey.Equal(rsaPub) {
		t.Fatal("RSA data key pair halves do not match")
	}
	_, err = s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: wrap.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP384, DryRun: aws.Bool(true)})
	wantError(t, err, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	_, err = s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: wrap.KeyId, KeyPairSpec: types.DataKeyPairSpecSm2})
	wantError(t, err, "UnsupportedOperationException", "KeySpec SM2 is available only in the China Regions.")
}

func TestDeriveSharedSecretMatchesLocalECDH(t *testing.T) {
	s := newServer(t)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	if len(md.KeyAgreementAlgorithms) != 1 || md.KeyAgreementAlgorithms[0] != types.KeyAgreementAlgorithmSpecEcdh || md.SigningAlgorithms != nil {
		t.Fatalf("KEY_AGREEMENT metadata %+v", md)
	}
	local, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	localSPKI, err := x509.MarshalPKIXPublicKey(local.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Client.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: md.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: localSPKI})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	kmsPub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := kmsPub.(*ecdsa.PublicKey).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.ECDH(peer)
	if err != nil || !bytes.Equal(out.SharedSecret, want) || *out.KeyId != *md.Arn || out.KeyOrigin != types.OriginTypeAwsKms {
		t.Fatalf("shared secret differs from local ECDH (%v) or output %+v", err, out)
	}
	_, err = s.Client.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: md.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: []byte("not a key")})
	wantCode(t, err, "ValidationException")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "InvalidKeyUsageException", *md.Arn+" key usage is KEY_AGREEMENT which is not valid for Sign.")
	sign, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: sign.KeyMetadata.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: localSPKI})
	wantError(t, err, "InvalidKeyUsageException", *sign.KeyMetadata.Arn+" key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.")
}
