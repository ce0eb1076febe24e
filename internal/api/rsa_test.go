package api_test

import (
	"bytes"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestRSAEncryptionThroughTheSDK(t *testing.T) {
	s := newServer(t)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	if len(md.EncryptionAlgorithms) != 2 || md.SigningAlgorithms != nil {
		t.Fatalf("RSA ENCRYPT_DECRYPT metadata %+v", md)
	}
	id, arn := md.KeyId, *md.Arn
	oaep256 := types.EncryptionAlgorithmSpecRsaesOaepSha256

	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: []byte("hello"), EncryptionAlgorithm: oaep256})
	if err != nil || enc.EncryptionAlgorithm != oaep256 || *enc.KeyId != arn || len(enc.CiphertextBlob) != 256 {
		t.Fatalf("Encrypt: %v %+v", err, enc)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: oaep256})
	if err != nil || string(dec.Plaintext) != "hello" || dec.EncryptionAlgorithm != oaep256 {
		t.Fatalf("Decrypt: %v", err)
	}

	// An outside party encrypts with the public key alone (openssl), kmsd decrypts.
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pubPEM := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk.PublicKey}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "msg"), []byte("from outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", pubPEM, "-in", filepath.Join(dir, "msg"), "-out", filepath.Join(dir, "ct"),
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	ct, _ := os.ReadFile(filepath.Join(dir, "ct"))
	dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: id, CiphertextBlob: ct, EncryptionAlgorithm: oaep256})
	if err != nil || string(dec.Plaintext) != "from outside" {
		t.Fatalf("decrypt openssl ciphertext: %v", err)
	}
	// And Go's standard library, from the same public key.
	pub, _ := x509.ParsePKIXPublicKey(pk.PublicKey)
	goCT, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("from go"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: id, CiphertextBlob: goCT, EncryptionAlgorithm: oaep256}); err != nil || string(dec.Plaintext) != "from go" {
		t.Fatalf("decrypt Go ciphertext: %v", err)
	}

	// AWS's limits and rules.
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: make([]byte, 215), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	wantError(t, err, "ValidationException", "Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: make([]byte, 214), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	if fips140.Enforced() {
		wantError(t, err, "UnsupportedOperationException", "Algorithm RSAES_OAEP_SHA_1 is not available in FIPS 140-only mode.")
	} else if err != nil {
		t.Fatalf("214 bytes with OAEP-SHA1: %v", err)
	}
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantError(t, err, "InvalidKeyUsageException", "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: oaep256, EncryptionContext: map[string]string{"a": "b"}})
	wantCode(t, err, "ValidationException")
	bad := bytes.Clone(enc.CiphertextBlob)
	bad[10] ^= 1
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: id, CiphertextBlob: bad, EncryptionAlgorithm: oaep256})
	wantError(t, err, "InvalidCiphertextException", "")
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: id, KeySpec: types.DataKeySpecAes256})
	wantError(t, err, "InvalidKeyUsageException", arn+" key spec RSA_2048 is not valid for GenerateDataKey.")

	// ReEncrypt from RSA to a symmetric key and back.
	sym := s.createKey("symmetric")
	re, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: id, SourceEncryptionAlgorithm: oaep256, DestinationKeyId: sym.KeyId})
	if err != nil || re.SourceEncryptionAlgorithm != oaep256 || re.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("ReEncrypt RSA→symmetric: %v %+v", err, re)
	}
	back, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: id, DestinationEncryptionAlgorithm: oaep256})
	if err != nil {
		t.Fatal(err)
	}
	dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: id, CiphertextBlob: back.CiphertextBlob, EncryptionAlgorithm: oaep256})
	if err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("round trip through ReEncrypt: %v", err)
	}
}
