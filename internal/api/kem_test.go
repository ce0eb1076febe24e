package api_test

import (
	"bytes"
	"crypto/mlkem"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
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
}

// TestMLKEM512ThroughTheSDK: a sender with only the public key encapsulates
// with circl's ML-KEM-512; kmsd decapsulates to the same secret.
func TestMLKEM512ThroughTheSDK(t *testing.T) {
	s := newServer(t)
	if refusedInFIPS(t, s.Client, types.KeySpecMlKem512, types.KeyUsageTypeEncapsulateDecapsulate) {
		return
	}
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecMlKem512, KeyUsage: types.KeyUsageTypeEncapsulateDecapsulate})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(pk.PublicKey, &spki); err != nil || !spki.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}) {
		t.Fatalf("SPKI: %v, OID %v", err, spki.Algorithm.Algorithm)
	}
	ek, err := mlkem512.Scheme().UnmarshalBinaryPublicKey(spki.PublicKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ct, shared, err := mlkem512.Scheme().Encapsulate(ek)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decapsulate(bg, &kms.DecapsulateInput{KeyId: id, SharedSecretCiphertextBlob: ct, EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
	if err != nil || !bytes.Equal(dec.SharedSecret, shared) {
		t.Fatalf("Decapsulate of circl's ciphertext: %v", err)
	}
	enc, err := s.Client.Encapsulate(bg, &kms.EncapsulateInput{KeyId: id, EncapsulationAlgorithm: types.EncapsulationAlgorithmSpecMlKem})
	if err != nil || len(enc.SharedSecretCiphertextBlob) != mlkem512.CiphertextSize {
		t.Fatalf("Encapsulate: %v", err)
	}
}
