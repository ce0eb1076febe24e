package api_test

import (
	"bytes"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// opensslRun runs openssl and fails the test with its output if it fails.
// openssl is the independent implementation the import tests wrap with, so
// a missing binary is a failure, not a skip.
func opensslRun(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("openssl", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readTemp(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opensslWrap wraps material as AWS's guide does it with openssl, under
// the PublicKey of a GetParametersForImport answer: pkeyutl with
// RSAES-OAEP for the RSAES_OAEP algorithms; for the RSA_AES ones, a fresh
// AES-256 key wraps the material (enc -id-aes256-wrap-pad) and pkeyutl
// encrypts that key, the two outputs concatenated.
func opensslWrap(t *testing.T, publicKey []byte, alg types.AlgorithmSpec, material []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	pub := writeTemp(t, dir, "WrappingPublicKey.bin", publicKey)
	in := writeTemp(t, dir, "PlaintextKeyMaterial.bin", material)
	md := "sha256"
	if alg == types.AlgorithmSpecRsaesOaepSha1 || alg == types.AlgorithmSpecRsaAesKeyWrapSha1 {
		md = "sha1"
	}
	pkeyutl := func(in, out string) {
		opensslRun(t, "pkeyutl", "-encrypt", "-in", in, "-out", out, "-inkey", pub, "-keyform", "DER", "-pubin",
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+md, "-pkeyopt", "rsa_mgf1_md:"+md)
	}
	switch alg {
	case types.AlgorithmSpecRsaesOaepSha1, types.AlgorithmSpecRsaesOaepSha256:
		out := filepath.Join(dir, "EncryptedKeyMaterial.bin")
		pkeyutl(in, out)
		return readTemp(t, out)
	case types.AlgorithmSpecRsaAesKeyWrapSha1, types.AlgorithmSpecRsaAesKeyWrapSha256:
		aesKey := filepath.Join(dir, "aes-key.bin")
		opensslRun(t, "rand", "-out", aesKey, "32")
		opensslRun(t, "enc", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(readTemp(t, aesKey)), "-iv", "A65959A6",
			"-in", in, "-out", filepath.Join(dir, "key-material-wrapped.bin"))
		pkeyutl(aesKey, filepath.Join(dir, "aes-key-wrapped.bin"))
		return append(readTemp(t, filepath.Join(dir, "aes-key-wrapped.bin")), readTemp(t, filepath.Join(dir, "key-material-wrapped.bin"))...)
	}
	t.Fatalf("no openssl recipe for %s", alg)
	return nil
}

func (s *testServer) createExternal(spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
	s.t.Helper()
	out, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage, Origin: types.OriginTypeExternal})
	if err != nil {
		s.t.Fatalf("CreateKey %s EXTERNAL: %v", spec, err)
	}
	return out.KeyMetadata
}

// importWith fetches a wrapping key and token, wraps material with openssl
// and imports it; expiry nil means KEY_MATERIAL_DOES_NOT_EXPIRE.
func (s *testServer) importWith(keyID string, spec types.WrappingKeySpec, alg types.AlgorithmSpec, material []byte, expiry *time.Time, edit ...func(*kms.ImportKeyMaterialInput)) (*kms.ImportKeyMaterialOutput, error) {
	s.t.Helper()
	p, err := s.Client.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(keyID), WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		s.t.Fatalf("GetParametersForImport %s %s: %v", spec, alg, err)
	}
	in := &kms.ImportKeyMaterialInput{
		KeyId: aws.String(keyID), ImportToken: p.ImportToken,
		EncryptedKeyMaterial: opensslWrap(s.t, p.PublicKey, alg, material),
		ExpirationModel:      types.ExpirationModelTypeKeyMaterialDoesNotExpire,
	}
	if expiry != nil {
		in.ExpirationModel, in.ValidTo = types.ExpirationModelTypeKeyMaterialExpires, expiry
	}
	for _, e := range edit {
		e(in)
	}
	return s.Client.ImportKeyMaterial(bg, in)
}

func randomMaterial(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

var materialIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestImportSymmetricMaterialWithOpenSSL(t *testing.T) {
	s := newServer(t)
	md := s.createExternal("", "")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)
	if md.KeyState != types.KeyStatePendingImport || md.Enabled || md.Origin != types.OriginTypeExternal || md.CurrentKeyMaterialId != nil || md.ExpirationModel != "" {
		t.Fatalf("new EXTERNAL key: %s enabled=%v origin=%s material=%v expiration=%q", md.KeyState, md.Enabled, md.Origin, md.CurrentKeyMaterialId, md.ExpirationModel)
	}
	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantError(t, err, "KMSInvalidStateException", arn+" is pending import.")

	p, err := s.Client.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(id), WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa3072})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(p.KeyId) != arn || !aws.ToTime(p.ParametersValidTo).Equal(s.Clock.Now().Add(24*time.Hour)) {
		t.Fatalf("GetParametersForImport: KeyId %s ParametersValidTo %v", aws.ToString(p.KeyId), p.ParametersValidTo)
	}
	if pub, err := x509.ParsePKIXPublicKey(p.PublicKey); err != nil || pub.(*rsa.PublicKey).N.BitLen() != 3072 {
		t.Fatalf("PublicKey is not an RSA-3072 SPKI: %v", err)
	}
	material := randomMaterial(t, 32)
	in := &kms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: p.ImportToken, EncryptedKeyMaterial: opensslWrap(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material)}
	_, err = s.Client.ImportKeyMaterial(bg, in) // ExpirationModel defaults to KEY_MATERIAL_EXPIRES
	wantError(t, err, "ValidationException", "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	in.ExpirationModel = types.ExpirationModelTypeKeyMaterialDoesNotExpire
	imp, err := s.Client.ImportKeyMaterial(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	mid := aws.ToString(imp.KeyMaterialId)
	if aws.ToString(imp.KeyId) != arn || !materialIDPattern.MatchString(mid) {
		t.Fatalf("ImportKeyMaterial answered KeyId %s KeyMaterialId %s", aws.ToString(imp.KeyId), mid)
	}
	md = s.describe(id)
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || aws.ToString(md.CurrentKeyMaterialId) != mid || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire || md.ValidTo != nil {
		t.Fatalf("after import: %s material %v expiration %s", md.KeyState, md.CurrentKeyMaterialId, md.ExpirationModel)
	}
	enc := s.encrypt(id, []byte("imported"), map[string]string{"app": "byok"})
	decrypt := func() (*kms.DecryptOutput, error) {
		return s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "byok"}})
	}
	if dec, err := decrypt(); err != nil || string(dec.Plaintext) != "imported" || aws.ToString(dec.KeyMaterialId) != mid {
		t.Fatalf("decrypt: %v", err)
	}

	del, err := s.Client.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)})
	if err != nil || aws.ToString(del.KeyId) != arn || aws.ToString(del.KeyMaterialId) != mid {
		t.Fatalf("DeleteImportedKeyMaterial: %+v %v", del, err)
	}
	if md = s.describe(id); md.KeyState != types.KeyStatePendingImport || md.ExpirationModel != "" || aws.ToString(md.CurrentKeyMaterialId) != mid {
		t.Fatalf("after deletion: %s expiration %q material %v", md.KeyState, md.ExpirationModel, md.CurrentKeyMaterialId)
	}
	_, err = decrypt()
	wantError(t, err, "KMSInvalidStateException", arn+" is pending import.")

	_, err = s.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, randomMaterial(t, 32), nil)
	wantCode(t, err, "IncorrectKeyMaterialException")
	again, err := s.importWith(id, types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256, material, nil)
	if err != nil || aws.ToString(again.KeyMaterialId) != mid {
		t.Fatalf("re-import with RSA_AES_KEY_WRAP_SHA_256: %v (KeyMaterialId %s, want %s)", err, aws.ToString(again.KeyMaterialId), mid)
	}
	if dec, err := decrypt(); err != nil || string(dec.Plaintext) != "imported" {
		t.Fatalf("decrypt after re-import: %v", err)
	}
	_, err = s.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, randomMaterial(t, 32), nil)
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = s.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, randomMaterial(t, 16), nil)
	wantCode(t, err, "IncorrectKeyMaterialException")
}

func TestImportTokensAndParameters(t *testing.T) {
	s := newServer(t)
	a := aws.ToString(s.createExternal("", "").KeyId)
	b := aws.ToString(s.createExternal("", "").KeyId)
	get := func(id string, alg types.AlgorithmSpec, spec types.WrappingKeySpec) (*kms.GetParametersForImportOutput, error) {
		return s.Client.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(id), WrappingAlgorithm: alg, WrappingKeySpec: spec})
	}
	p, err := get(a, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	if err != nil {
		t.Fatal(err)
	}
	material := randomMaterial(t, 32)
	wrapped := opensslWrap(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, material)
	imp := func(id string, token []byte) error {
		_, err := s.Client.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: token, EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
		return err
	}
	wantCode(t, imp(b, p.ImportToken), "InvalidImportTokenException")
	other, err := get(a, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, imp(a, other.ImportToken), "InvalidCiphertextException") // wrapped under the first public key
	s.Clock.Add(24*time.Hour + time.Second)
	wantCode(t, imp(a, p.ImportToken), "ExpiredImportTokenException")

	_, err = get(a, types.AlgorithmSpecRsaesPkcs1V15, types.WrappingKeySpecRsa2048)
	wantCode(t, err, "UnsupportedOperationException")
	_, err = get(a, types.AlgorithmSpecSm2pke, types.WrappingKeySpecSm2)
	wantCode(t, err, "UnsupportedOperationException")
	rsaKey := s.createExternal(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	_, err = get(aws.ToString(rsaKey.KeyId), types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa4096)
	wantCode(t, err, "UnsupportedOperationException")
	own := s.createKey("generated")
	_, err = get(aws.ToString(own.KeyId), types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	wantError(t, err, "UnsupportedOperationException", aws.ToString(own.Arn)+" origin is AWS_KMS which is not valid for this operation.")
	_, err = s.Client.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: own.KeyId})
	wantError(t, err, "UnsupportedOperationException", aws.ToString(own.Arn)+" origin is AWS_KMS which is not valid for this operation.")

	// SHA-1 wrapping: refused in FIPS 140-only mode, working otherwise.
	_, err = get(a, types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048)
	if fips140.Enforced() {
		wantError(t, err, "UnsupportedOperationException", "WrappingAlgorithm RSAES_OAEP_SHA_1 is not available in FIPS 140-only mode.")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.importWith(a, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha1, material, nil); err != nil {
		t.Fatalf("import with RSA_AES_KEY_WRAP_SHA_1: %v", err)
	}
}

func TestImportHMACAndRSAMaterialWithOpenSSL(t *testing.T) {
	s := newServer(t)
	// HMAC: 48 random bytes from openssl, MAC checked with openssl.
	hmacKey := s.createExternal(types.KeySpecHmac384, types.KeyUsageTypeGenerateVerifyMac)
	hid := aws.ToString(hmacKey.KeyId)
	key := opensslRun(t, "rand", "48")
	if _, err := s.importWith(hid, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, key, nil); err != nil {
		t.Fatal(err)
	}
	mac, err := s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(hid), Message: []byte("message"), MacAlgorithm: types.MacAlgorithmSpecHmacSha384})
	if err != nil {
		t.Fatal(err)
	}
	msg := writeTemp(t, t.TempDir(), "msg", []byte("message"))
	want := opensslRun(t, "dgst", "-sha384", "-binary", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(key), msg)
	if !bytes.Equal(mac.Mac, want) {
		t.Fatal("GenerateMac is not openssl's HMAC-SHA-384 under the imported key")
	}
	if md := s.describe(hid); md.CurrentKeyMaterialId != nil || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("HMAC key after import: %s material %v", md.KeyState, md.CurrentKeyMaterialId)
	}
	_, err = s.importWith(hid, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, randomMaterial(t, 47), nil)
	wantCode(t, err, "IncorrectKeyMaterialException")

	// RSA: a PKCS#8 key from openssl, which only RSA_AES_KEY_WRAP carries.
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "private.pem")
	opensslRun(t, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pemPath)
	der := opensslRun(t, "pkcs8", "-topk8", "-nocrypt", "-in", pemPath, "-outform", "DER")
	spki := opensslRun(t, "pkey", "-in", pemPath, "-pubout", "-outform", "DER")
	rsaKey := s.createExternal(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	rid, rarn := aws.ToString(rsaKey.KeyId), aws.ToString(rsaKey.Arn)
	// PKCS#1 DER is not PKCS#8.
	pkcs1 := opensslRun(t, "rsa", "-in", pemPath, "-outform", "DER", "-traditional")
	_, err = s.importWith(rid, types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256, pkcs1, nil)
	wantCode(t, err, "IncorrectKeyMaterialException")
	if _, err := s.importWith(rid, types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256, der, nil); err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: aws.String(rid)})
	if err != nil || !bytes.Equal(pk.PublicKey, spki) {
		t.Fatalf("GetPublicKey is not openssl's public key: %v", err)
	}
	sig, err := s.Client.Sign(bg, &kms.SignInput{KeyId: aws.String(rid), Message: []byte("signed with imported material"), SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
	if err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, spki, []byte("signed with imported material"), sig.Signature, "-digest", "sha256")

	other := opensslRun(t, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-outform", "PEM")
	otherDER := opensslRun(t, "pkcs8", "-topk8", "-nocrypt", "-in", writeTemp(t, dir, "other.pem", other), "-outform", "DER")
	_, err = s.importWith(rid, types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256, otherDER, nil)
	wantCode(t, err, "IncorrectKeyMaterialException")
	_, err = s.importWith(rid, types.WrappingKeySpecRsa4096, types.AlgorithmSpecRsaAesKeyWrapSha256, der, nil, func(in *kms.ImportKeyMaterialInput) {
		in.ImportType = types.ImportTypeNewKeyMaterial
	})
	wantCode(t, err, "UnsupportedOperationException")

	if _, err := s.Client.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(rid)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Sign(bg, &kms.SignInput{KeyId: aws.String(rid), Message: []byte("x"), SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
	wantError(t, err, "KMSInvalidStateException", rarn+" is pending import.")
	if md := s.describe(rid); md.KeyState != types.KeyStatePendingImport || md.ExpirationModel != "" {
		t.Fatalf("RSA key after deletion: %s %q", md.KeyState, md.ExpirationModel)
	}
	if _, err := s.importWith(rid, types.WrappingKeySpecRsa3072, types.AlgorithmSpecRsaAesKeyWrapSha256, der, nil); err != nil {
		t.Fatalf("re-import the RSA key: %v", err)
	}
	if _, err := s.Client.Verify(bg, &kms.VerifyInput{KeyId: aws.String(rid), Message: []byte("signed with imported material"), Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256}); err != nil {
		t.Fatalf("Verify after re-import: %v", err)
	}
}

func TestImportNewKeyMaterialAndRotateOnDemand(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createExternal("", "").KeyId)
	first, err := s.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, randomMaterial(t, 32), nil, func(in *kms.ImportKeyMaterialInput) {
		in.KeyMaterialDescription = aws.String("first")
	})
	if err != nil {
		t.Fatal(err)
	}
	enc := s.encrypt(id, []byte("before rotation"), nil)
	_, err = s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", "No available key material pending rotation for the key: "+keyARN(testRegion, id)+".")
	second, err := s.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaAesKeyWrapSha256, randomMaterial(t, 32), nil, func(in *kms.ImportKeyMaterialInput) {
		in.ImportType, in.KeyMaterialDescription = types.ImportTypeNewKeyMaterial, aws.String("second")
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id), IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil {
		t.Fatal(err)
	}
	r := list.Rotations
	if len(r) != 2 || aws.ToString(r[0].KeyMaterialId) != aws.ToString(first.KeyMaterialId) || r[0].KeyMaterialState != types.KeyMaterialStateCurrent ||
		aws.ToString(r[0].KeyMaterialDescription) != "first" || r[0].ImportState != types.ImportStateImported || r[0].ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire ||
		aws.ToString(r[1].KeyMaterialId) != aws.ToString(second.KeyMaterialId) || r[1].KeyMaterialState != types.KeyMaterialStatePendingRotation || aws.ToString(r[1].KeyMaterialDescription) != "second" {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL: %+v", r)
	}
	if _, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if md := s.describe(id); aws.ToString(md.CurrentKeyMaterialId) != aws.ToString(second.KeyMaterialId) {
		t.Fatalf("current material %v after rotation", md.CurrentKeyMaterialId)
	}
	if dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || aws.ToString(dec.KeyMaterialId) != aws.ToString(first.KeyMaterialId) {
		t.Fatalf("decrypt under the previous material: %v", err)
	}
	after := s.encrypt(id, []byte("after rotation"), nil)
	if dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: after.CiphertextBlob}); err != nil || aws.ToString(dec.KeyMaterialId) != aws.ToString(second.KeyMaterialId) {
		t.Fatalf("new ciphertexts use the rotated-in material: %v", err)
	}
	rot, err := s.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
	if err != nil || len(rot.Rotations) != 1 || rot.Rotations[0].RotationType != types.RotationTypeOnDemand || rot.Rotations[0].RotationDate == nil {
		t.Fatalf("ListKeyRotations after rotation: %+v %v", rot, err)
	}
}

// TestImportedMaterialExpiresAcrossRestart runs the expiry task against a
// fake clock with a restart between its runs: the material goes at
// ValidTo, once, the key becomes PendingImport, and the audit log has one
// DeleteExpiredKeyMaterial service event.
func TestImportedMaterialExpiresAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openDataNode(t, dir, clock)
	id := aws.ToString(n.createExternal("", "").KeyId)
	material := randomMaterial(t, 32)
	validTo := clock.Now().Add(2 * time.Hour)
	_, err := n.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, material, aws.Time(clock.Now().Add(366*day)))
	wantCode(t, err, "ValidationException")
	imp, err := n.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, material, &validTo)
	if err != nil {
		t.Fatal(err)
	}
	md := n.describe(id)
	if md.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires || !aws.ToTime(md.ValidTo).Equal(validTo) {
		t.Fatalf("ExpirationModel %s ValidTo %v", md.ExpirationModel, md.ValidTo)
	}
	enc := n.encrypt(id, []byte("expiring"), nil)
	run := func(want int) {
		t.Helper()
		if got, err := n.Service.ImportExpiryJob(n.Audit)(bg); got != want || err != nil {
			t.Fatalf("expiry job = %d, %v; want %d", got, err, want)
		}
	}
	clock.Add(time.Hour)
	run(0)
	n.Stop()
	clock.Add(time.Hour) // due while kmsd is down
	n = openDataNode(t, dir, clock)
	run(1)
	run(0)
	md = n.describe(id)
	if md.KeyState != types.KeyStatePendingImport || md.ValidTo != nil || md.ExpirationModel != "" {
		t.Fatalf("after expiry: %s %v %s", md.KeyState, md.ValidTo, md.ExpirationModel)
	}
	_, err = n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	list, err := n.Client.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id), IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil || len(list.Rotations) != 1 || list.Rotations[0].ImportState != types.ImportStatePendingImport {
		t.Fatalf("ListKeyRotations after expiry: %+v %v", list, err)
	}
	if _, err := n.importWith(id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, material, nil); err != nil {
		t.Fatal(err)
	}
	if dec, err := n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "expiring" {
		t.Fatalf("decrypt after re-import: %v", err)
	}

	var expired int
	for _, r := range n.readAudit() {
		if r["eventName"] != "DeleteExpiredKeyMaterial" {
			continue
		}
		expired++
		extra, _ := r["additionalEventData"].(map[string]any)
		if r["eventType"] != "AwsServiceEvent" || extra["keyId"] != id || extra["keyMaterialId"] != aws.ToString(imp.KeyMaterialId) {
			t.Errorf("DeleteExpiredKeyMaterial record = %v", r)
		}
	}
	if expired != 1 {
		t.Fatalf("%d DeleteExpiredKeyMaterial records, want 1", expired)
	}
}

// TestImportLeavesNoSecretInTheAuditLog imports recognisable material and
// checks that neither it nor the token or wrapped material reach the audit
// log, and that the records say what AWS's say.
func TestImportLeavesNoSecretInTheAuditLog(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createExternal("", "").KeyId)
	canary := []byte("CANARY-byok-material-0123456789a") // 32 bytes
	p, err := s.Client.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(id), WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	wrapped := opensslWrap(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, canary)
	if _, err := s.Client.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: p.ImportToken, EncryptedKeyMaterial: opensslWrap(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, append(bytes.Clone(canary), 'x')), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	wantCode(t, err, "IncorrectKeyMaterialException")
	if _, err := s.Client.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	log, err := os.ReadFile(s.AuditPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{canary, []byte(hex.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(p.ImportToken)[:40]), []byte(base64.StdEncoding.EncodeToString(wrapped)[:40])} {
		if bytes.Contains(log, secret) {
			t.Fatalf("the audit log contains %q", secret[:8])
		}
	}
	seen := map[string]bool{}
	for _, r := range s.readAudit() {
		name, _ := r["eventName"].(string)
		params, _ := r["requestParameters"].(map[string]any)
		switch name {
		case "GetParametersForImport":
			if r["readOnly"] != true || params["wrappingAlgorithm"] != "RSAES_OAEP_SHA_256" || params["wrappingKeySpec"] != "RSA_2048" {
				t.Errorf("GetParametersForImport record = %v", r)
			}
		case "ImportKeyMaterial", "DeleteImportedKeyMaterial":
			if r["readOnly"] != false || params["keyId"] != id {
				t.Errorf("%s record = %v", name, r)
			}
		default:
			continue
		}
		seen[name] = true
	}
	if len(seen) != 3 {
		t.Fatalf("audit records of %v, want the three import operations", seen)
	}
}
