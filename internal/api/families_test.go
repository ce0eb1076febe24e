package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/fips140"
	"crypto/rand"
	"crypto/sha3"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	circl65 "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/kmsd/kmsd/internal/keys"
)

// specAlgorithms is AWS's table of what DescribeKey lists for each KeySpec
// and KeyUsage (the KMS developer guide's key spec reference).
var specAlgorithms = map[types.KeySpec]map[types.KeyUsageType][]string{
	types.KeySpecSymmetricDefault: {types.KeyUsageTypeEncryptDecrypt: {"SYMMETRIC_DEFAULT"}},
	types.KeySpecRsa2048:          rsaUsages, types.KeySpecRsa3072: rsaUsages, types.KeySpecRsa4096: rsaUsages,
	types.KeySpecEccNistP256:         {types.KeyUsageTypeSignVerify: {"ECDSA_SHA_256"}, types.KeyUsageTypeKeyAgreement: {"ECDH"}},
	types.KeySpecEccNistP384:         {types.KeyUsageTypeSignVerify: {"ECDSA_SHA_384"}, types.KeyUsageTypeKeyAgreement: {"ECDH"}},
	types.KeySpecEccNistP521:         {types.KeyUsageTypeSignVerify: {"ECDSA_SHA_512"}, types.KeyUsageTypeKeyAgreement: {"ECDH"}},
	types.KeySpecEccSecgP256k1:       {types.KeyUsageTypeSignVerify: {"ECDSA_SHA_256"}},
	types.KeySpecEccNistEdwards25519: {types.KeyUsageTypeSignVerify: {"ED25519_SHA_512", "ED25519_PH_SHA_512"}},
	types.KeySpecMlDsa44:             {types.KeyUsageTypeSignVerify: {"ML_DSA_SHAKE_256"}},
	types.KeySpecMlDsa65:             {types.KeyUsageTypeSignVerify: {"ML_DSA_SHAKE_256"}},
	types.KeySpecMlDsa87:             {types.KeyUsageTypeSignVerify: {"ML_DSA_SHAKE_256"}},
	types.KeySpecHmac224:             {types.KeyUsageTypeGenerateVerifyMac: {"HMAC_SHA_224"}},
	types.KeySpecHmac256:             {types.KeyUsageTypeGenerateVerifyMac: {"HMAC_SHA_256"}},
	types.KeySpecHmac384:             {types.KeyUsageTypeGenerateVerifyMac: {"HMAC_SHA_384"}},
	types.KeySpecHmac512:             {types.KeyUsageTypeGenerateVerifyMac: {"HMAC_SHA_512"}},
	types.KeySpecMlKem512:            {types.KeyUsageTypeEncapsulateDecapsulate: {"ML_KEM"}},
	types.KeySpecMlKem768:            {types.KeyUsageTypeEncapsulateDecapsulate: {"ML_KEM"}},
	types.KeySpecMlKem1024:           {types.KeyUsageTypeEncapsulateDecapsulate: {"ML_KEM"}},
	types.KeySpecSm2: {
		types.KeyUsageTypeEncryptDecrypt: {"SM2PKE"}, types.KeyUsageTypeSignVerify: {"SM2DSA"}, types.KeyUsageTypeKeyAgreement: {"ECDH"},
	},
}

var rsaUsages = map[types.KeyUsageType][]string{
	types.KeyUsageTypeEncryptDecrypt: {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"},
	types.KeyUsageTypeSignVerify: {
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
	},
}

// listedAlgorithms returns the one algorithm list DescribeKey fills for the
// key's usage, and fails if another list is filled too.
func listedAlgorithms(t *testing.T, md *types.KeyMetadata) []string {
	t.Helper()
	var lists [][]string
	add := func(l []string) {
		if l != nil {
			lists = append(lists, l)
		}
	}
	add(enumStrings(md.EncryptionAlgorithms))
	add(enumStrings(md.SigningAlgorithms))
	add(enumStrings(md.MacAlgorithms))
	add(enumStrings(md.KeyAgreementAlgorithms))
	add(enumStrings(md.EncapsulationAlgorithms))
	if len(lists) != 1 {
		t.Fatalf("%s/%s: %d algorithm lists, want 1", md.KeySpec, md.KeyUsage, len(lists))
	}
	return lists[0]
}

func enumStrings[E ~string](in []E) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

// TestEveryKeySpecAndUsage creates every KeySpec x KeyUsage pair of the
// API: the pairs AWS offers succeed with AWS's algorithm lists, the others
// get AWS's ValidationException. SM2 is created in a China Region, as AWS
// offers it only there.
func TestEveryKeySpecAndUsage(t *testing.T) {
	s := newServer(t)
	china := s.clientIn("cn-north-1")
	for _, spec := range types.KeySpec("").Values() {
		client, region := s.Client, testRegion
		if spec == types.KeySpecSm2 {
			client, region = china, "cn-north-1"
		}
		for _, usage := range types.KeyUsageType("").Values() {
			out, err := client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
			want, ok := specAlgorithms[spec][usage]
			if !ok {
				wantError(t, err, "ValidationException", "KeyUsage "+string(usage)+" is not compatible with KeySpec "+string(spec))
				continue
			}
			if fips140.Enforced() && !keys.FIPSApproved(string(spec)) {
				wantError(t, err, "UnsupportedOperationException", "KeySpec "+string(spec)+" is not available in FIPS 140-only mode.")
				continue
			}
			if err != nil {
				t.Errorf("CreateKey(%s, %s): %v", spec, usage, err)
				continue
			}
			md := out.KeyMetadata
			if got := listedAlgorithms(t, md); !slices.Equal(got, want) {
				t.Errorf("%s/%s: algorithms %v, want %v", spec, usage, got, want)
			}
			if !strings.HasPrefix(*md.Arn, "arn:"+map[bool]string{true: "aws-cn", false: "aws"}[region == "cn-north-1"]+":kms:"+region+":") {
				t.Errorf("%s: ARN %s", spec, *md.Arn)
			}
			if spec != types.KeySpecSymmetricDefault && !strings.HasPrefix(string(spec), "HMAC") {
				pk, err := client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: md.KeyId})
				if err != nil || len(pk.PublicKey) == 0 || pk.KeySpec != spec || pk.KeyUsage != usage {
					t.Errorf("GetPublicKey(%s/%s): %v", spec, usage, err)
				}
			}
		}
	}
	_, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecSm2, KeyUsage: types.KeyUsageTypeSignVerify})
	wantError(t, err, "UnsupportedOperationException", "KeySpec SM2 is available only in the China Regions.")
	_, err = china.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecMlKem768, KeyUsage: types.KeyUsageTypeEncapsulateDecapsulate})
	wantError(t, err, "UnsupportedOperationException", "KeySpec ML_KEM_768 is not available in the China Regions.")
}

// opensslVerify checks a signature with openssl from the SPKI alone.
func opensslVerify(t *testing.T, spki, msg, sig []byte, args ...string) {
	t.Helper()
	dir := t.TempDir()
	pub := filepath.Join(dir, "pub.der")
	m := filepath.Join(dir, "msg")
	sg := filepath.Join(dir, "sig")
	for p, b := range map[string][]byte{pub: spki, m: msg, sg: sig} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]string{"pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", pub, "-rawin", "-in", m, "-sigfile", sg}, args...)
	out, err := exec.Command("openssl", all...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Signature Verified Successfully")) {
		t.Fatalf("openssl %v: %v: %s", args, err, out)
	}
}

// refusedInFIPS reports whether the server runs in FIPS 140-only mode and
// refuses spec there, after checking CreateKey's answer. Tests of such a
// spec check the refusal instead of the key's behaviour.
func refusedInFIPS(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) bool {
	t.Helper()
	if !fips140.Enforced() || keys.FIPSApproved(string(spec)) {
		return false
	}
	_, err := c.CreateKey(bg, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	wantError(t, err, "UnsupportedOperationException", "KeySpec "+string(spec)+" is not available in FIPS 140-only mode.")
	return true
}

func TestSecp256k1ThroughTheSDK(t *testing.T) {
	s := newServer(t)
	if refusedInFIPS(t, s.Client, types.KeySpecEccSecgP256k1, types.KeyUsageTypeSignVerify) {
		return
	}
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	//lint:ignore SA1019 AWS still returns the deprecated field for the specs it knows
	if ck.KeyMetadata.CustomerMasterKeySpec != types.CustomerMasterKeySpecEccSecgP256k1 {
		t.Errorf("CustomerMasterKeySpec = %q", ck.KeyMetadata.CustomerMasterKeySpec) //lint:ignore SA1019 as above
	}
	msg := []byte("raw transaction bytes")
	sig, err := s.Client.Sign(bg, &kms.SignInput{KeyId: id, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, pk.PublicKey, msg, sig.Signature, "-digest", "sha256")
	if _, err := s.Client.Verify(bg, &kms.VerifyInput{KeyId: id, Message: msg, Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Verify(bg, &kms.VerifyInput{KeyId: id, Message: []byte("other"), Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "KMSInvalidSignatureException", "")

	// secp256k1 data key pairs come out as PKCS#8 that openssl reads.
	wrap := s.createKey("wrapping")
	kp, err := s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: wrap.KeyId, KeyPairSpec: types.DataKeyPairSpecEccSecgP256k1})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "priv.der")
	if err := os.WriteFile(p, kp.PrivateKeyPlaintext, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "pkey", "-inform", "DER", "-in", p, "-pubout", "-outform", "DER").Output()
	if err != nil || !bytes.Equal(out, kp.PublicKey) {
		t.Errorf("openssl reads another public key from the secp256k1 data key pair (%v)", err)
	}
}

// mldsaMu is FIPS 204's message representative for an empty context.
func mldsaMu(pk, msg []byte) []byte {
	tr := sha3.SumSHAKE256(pk, 64)
	h := sha3.NewSHAKE256()
	h.Write(tr)
	h.Write([]byte{0, 0})
	h.Write(msg)
	mu := make([]byte, 64)
	h.Read(mu)
	return mu
}

func TestMLDSAThroughTheSDK(t *testing.T) {
	s := newServer(t)
	if refusedInFIPS(t, s.Client, types.KeySpecMlDsa65, types.KeyUsageTypeSignVerify) {
		return
	}
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecMlDsa65, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	//lint:ignore SA1019 AWS leaves the deprecated field out for the newer specs
	if md.CustomerMasterKeySpec != "" {
		t.Errorf("CustomerMasterKeySpec = %q; AWS leaves it out for ML-DSA", md.CustomerMasterKeySpec) //lint:ignore SA1019 as above
	}
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: md.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	var spki struct {
		Algorithm struct{ Algorithm asn1.ObjectIdentifier }
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(pk.PublicKey, &spki); err != nil || !spki.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}) {
		t.Fatalf("SPKI: %v, OID %v (want id-ml-dsa-65)", err, spki.Algorithm.Algorithm)
	}
	var circlPub circl65.PublicKey
	if err := circlPub.UnmarshalBinary(spki.PublicKey.Bytes); err != nil {
		t.Fatal(err)
	}
	alg := types.SigningAlgorithmSpecMlDsaShake256
	msg := make([]byte, 4096)
	_, _ = rand.Read(msg)
	raw, err := s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	if !circl65.Verify(&circlPub, msg, nil, raw.Signature) {
		t.Fatal("circl does not verify kmsd's ML-DSA-65 signature")
	}
	mu := mldsaMu(spki.PublicKey.Bytes, msg)
	ext, err := s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	if !circl65.Verify(&circlPub, msg, nil, ext.Signature) {
		t.Fatal("circl does not verify kmsd's EXTERNAL_MU signature over the message")
	}
	for _, v := range []struct {
		mt  types.MessageType
		m   []byte
		sig []byte
	}{{"", msg, ext.Signature}, {types.MessageTypeExternalMu, mu, raw.Signature}} {
		if _, err := s.Client.Verify(bg, &kms.VerifyInput{KeyId: md.KeyId, Message: v.m, MessageType: v.mt, Signature: v.sig, SigningAlgorithm: alg}); err != nil {
			t.Errorf("Verify(%s): %v", v.mt, err)
		}
	}
	_, err = s.Client.Verify(bg, &kms.VerifyInput{KeyId: md.KeyId, Message: mldsaMu(spki.PublicKey.Bytes, []byte("x")), MessageType: types.MessageTypeExternalMu, Signature: raw.Signature, SigningAlgorithm: alg})
	wantError(t, err, "KMSInvalidSignatureException", "")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: mu, MessageType: types.MessageTypeDigest, SigningAlgorithm: alg})
	wantError(t, err, "ValidationException", "Message type DIGEST is incompatible with key spec ML_DSA_65.")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: mu[:32], MessageType: types.MessageTypeExternalMu, SigningAlgorithm: alg})
	wantError(t, err, "ValidationException", "Digest is invalid length for algorithm ML_DSA_SHAKE_256.")
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: md.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "InvalidKeyUsageException", "Algorithm ECDSA_SHA_256 is incompatible with key spec ML_DSA_65.")

	p256, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: p256.KeyMetadata.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantError(t, err, "ValidationException", "Message type EXTERNAL_MU is incompatible with signing algorithm ECDSA_SHA_256 for key spec ECC_NIST_P256.")
}

// TestSM2InTheChinaRegions uses SM2 keys as AWS offers them in cn-north-1:
// SM2DSA checked by openssl, SM2PKE both ways, ECDH against a local peer,
// and SM2 data key pairs.
func TestSM2InTheChinaRegions(t *testing.T) {
	s := newServer(t)
	cn := s.clientIn("cn-north-1")
	if refusedInFIPS(t, cn, types.KeySpecSm2, types.KeyUsageTypeSignVerify) {
		return
	}
	create := func(usage types.KeyUsageType) string {
		ck, err := cn.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecSm2, KeyUsage: usage})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(*ck.KeyMetadata.Arn, "arn:aws-cn:kms:cn-north-1:") {
			t.Errorf("ARN %s", *ck.KeyMetadata.Arn)
		}
		return *ck.KeyMetadata.Arn
	}
	publicKey := func(id string) []byte {
		pk, err := cn.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		return pk.PublicKey
	}

	signer := create(types.KeyUsageTypeSignVerify)
	msg := []byte("合同")
	sig, err := cn.Sign(bg, &kms.SignInput{KeyId: aws.String(signer), Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecSm2dsa})
	if err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, publicKey(signer), msg, sig.Signature, "-digest", "sm3", "-pkeyopt", "distid:1234567812345678")
	if _, err := cn.Verify(bg, &kms.VerifyInput{KeyId: aws.String(signer), Message: msg, Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecSm2dsa}); err != nil {
		t.Fatal(err)
	}

	enc := create(types.KeyUsageTypeEncryptDecrypt)
	pt := bytes.Repeat([]byte("s"), 1024)
	ct, err := cn.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(enc), Plaintext: pt, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := cn.Decrypt(bg, &kms.DecryptInput{KeyId: aws.String(enc), CiphertextBlob: ct.CiphertextBlob, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke})
	if err != nil || !bytes.Equal(dec.Plaintext, pt) {
		t.Fatalf("Decrypt: %v", err)
	}
	pub, err := smx509.ParsePKIXPublicKey(publicKey(enc))
	if err != nil {
		t.Fatal(err)
	}
	local, err := sm2.EncryptASN1(rand.Reader, pub.(*ecdsa.PublicKey), []byte("from outside"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err = cn.Decrypt(bg, &kms.DecryptInput{KeyId: aws.String(enc), CiphertextBlob: local, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke})
	if err != nil || string(dec.Plaintext) != "from outside" {
		t.Fatalf("Decrypt of a local SM2 ciphertext: %v", err)
	}
	_, err = cn.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(enc), Plaintext: append(pt, 's'), EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke})
	wantError(t, err, "ValidationException", "Algorithm SM2PKE and key spec SM2 cannot encrypt data larger than 1024 bytes.")

	agree := create(types.KeyUsageTypeKeyAgreement)
	peer, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	peerDER, _ := smx509.MarshalPKIXPublicKey(&peer.PublicKey)
	ss, err := cn.DeriveSharedSecret(bg, &kms.DeriveSharedSecretInput{KeyId: aws.String(agree), KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
	if err != nil {
		t.Fatal(err)
	}
	kpub, _ := smx509.ParsePKIXPublicKey(publicKey(agree))
	kECDH, _ := sm2.PublicKeyToECDH(kpub.(*ecdsa.PublicKey))
	peerECDH, _ := peer.ECDH()
	want, err := peerECDH.ECDH(kECDH)
	if err != nil || !bytes.Equal(ss.SharedSecret, want) {
		t.Fatalf("shared secret differs from the peer's (%v)", err)
	}

	wrap, err := cn.CreateKey(bg, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := cn.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: wrap.KeyMetadata.KeyId, KeyPairSpec: types.DataKeyPairSpecSm2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := smx509.ParsePKCS8PrivateKey(kp.PrivateKeyPlaintext); err != nil {
		t.Errorf("SM2 data key pair private key: %v", err)
	}
	w := s.createKey("us-east-1 wrapping key")
	_, err = s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: w.KeyId, KeyPairSpec: types.DataKeyPairSpecSm2})
	wantError(t, err, "UnsupportedOperationException", "KeySpec SM2 is available only in the China Regions.")
}
