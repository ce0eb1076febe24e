package api_test

import (
	"bytes"
	"crypto/mlkem"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestMLKEMThroughTheSDK(t *testing.T) {
	s := newServer(t)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecMlKem768, KeyUsage: types.KeyUsageTypeEncapsulateDecapsulate})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	if len(md.EncapsulationAlgorithms) != 1 || md.EncapsulationAlgorithms[0] != types.EncapsulationAlgorithmSpecMlKem {
		t.Fatalf("ML-KEM metadata %+v", md)
	}
	id := md.KeyId
	mlkemAlg := types.EncapsulationAlgorithmSpecMlKem

	// A sender with only the public key (FIPS 203 via crypto/mlkem).
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(pk.PublicKey, &spki); err != nil || len(rest) != 0 {
		t.Fatalf("GetPublicKey is not SPKI DER: %v", err)
	}
	ek, err := mlkem.NewEncapsulationKey768(spki.PublicKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	shared, ct := ek.Encapsulate()
	dec, err := s.Client.Decapsulate(bg, &kms.DecapsulateInput{KeyId: id, SharedSecretCiphertextBlob: ct, EncapsulationAlgorithm: mlkemAlg})
	if err != nil || !bytes.Equal(dec.SharedSecret, shared) || *dec.KeyId != *md.Arn {
		t.Fatalf("Decapsulate of a crypto/mlkem ciphertext: %v", err)
	}

	// kmsd encapsulates; decapsulating its ciphertext gives the same secret.
	enc, err := s.Client.Encapsulate(bg, &kms.EncapsulateInput{KeyId: id, EncapsulationAlgorithm: mlkemAlg})
	if err != nil || len(enc.SharedSecret) != 32 || len(enc.SharedSecretCiphertextBlob) != mlkem.CiphertextSize768 {
		t.Fatalf("Encapsulate: %v %+v", err, enc)
	}
	dec, err = s.Client.Decapsulate(bg, &kms.DecapsulateInput{KeyId: id, SharedSecretCiphertextBlob: enc.SharedSecretCiphertextBlob, EncapsulationAlgorithm: mlkemAlg})
	if err != nil || !bytes.Equal(dec.SharedSecret, enc.SharedSecret) {
		t.Fatalf("Decapsulate of kmsd's ciphertext: %v", err)
	}
	_, err = s.Client.Decapsulate(bg, &kms.DecapsulateInput{KeyId: id, SharedSecretCiphertextBlob: ct[:100], EncapsulationAlgorithm: mlkemAlg})
	wantError(t, err, "InvalidCiphertextException", "")

	sym := s.createKey("symmetric")
	_, err = s.Client.Encapsulate(bg, &kms.EncapsulateInput{KeyId: sym.KeyId, EncapsulationAlgorithm: mlkemAlg})
	wantError(t, err, "InvalidKeyUsageException", *sym.Arn+" key usage is ENCRYPT_DECRYPT which is not valid for Encapsulate.")
	_, err = s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecMlKem512, KeyUsage: types.KeyUsageTypeEncapsulateDecapsulate})
	wantCode(t, err, "UnsupportedOperationException")
}
