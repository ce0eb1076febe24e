package kms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

func TestImportHMACMaterial(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createExternal("HMAC_256", "GENERATE_VERIFY_MAC")
	for _, n := range []int{16, 31, 65} {
		_, err := h.importMaterial(h.importInput(id, keys.WrapOAEPSHA256, random(n)))
		wantCode(t, err, kmserr.IncorrectKeyMaterial)
	}
	key := random(48)
	h.mustImport(id, keys.WrapRSAAESKWPSHA256, key)
	out, err := h.svc.GenerateMac(ctx, call(), &kmsapi.GenerateMacInput{KeyId: id, Message: []byte("msg"), MacAlgorithm: "HMAC_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("msg"))
	if !hmac.Equal(out.Mac, m.Sum(nil)) {
		t.Fatal("the MAC is not HMAC-SHA-256 under the imported key")
	}
	md := h.describe(id)
	if md.CurrentKeyMaterialId != "" || md.ExpirationModel != kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire {
		t.Fatalf("HMAC key metadata: material %q expiration %q", md.CurrentKeyMaterialId, md.ExpirationModel)
	}
	other := h.importInput(id, keys.WrapOAEPSHA256, random(48))
	_, err = h.importMaterial(other)
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	other = h.importInput(id, keys.WrapOAEPSHA256, key)
	other.ImportType = kmsapi.ImportTypeNewKeyMaterial
	_, err = h.importMaterial(other)
	wantCode(t, err, kmserr.UnsupportedOperation)
	other = h.importInput(id, keys.WrapOAEPSHA256, key)
	other.KeyMaterialDescription = "x"
	_, err = h.importMaterial(other)
	wantCode(t, err, kmserr.Validation)
	_, err = h.svc.ListKeyRotations(ctx, call(), &kmsapi.ListKeyRotationsInput{KeyId: id})
	wantCode(t, err, kmserr.UnsupportedOperation)
	h.deleteMaterial(id, "")
	_, err = h.svc.GenerateMac(ctx, call(), &kmsapi.GenerateMacInput{KeyId: id, Message: []byte("msg"), MacAlgorithm: "HMAC_SHA_256"})
	wantCode(t, err, kmserr.InvalidState)
	h.reopen()
	h.mustImport(id, keys.WrapOAEPSHA256, key)
	if _, err := h.svc.VerifyMac(ctx, call(), &kmsapi.VerifyMacInput{KeyId: id, Message: []byte("msg"), Mac: out.Mac, MacAlgorithm: "HMAC_SHA_256"}); err != nil {
		t.Fatalf("VerifyMac after re-import: %v", err)
	}
}

func TestImportAsymmetricMaterial(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaPriv)
	if err != nil {
		t.Fatal(err)
	}
	id := h.createExternal("RSA_2048", "SIGN_VERIFY")
	// RSAES_OAEP cannot carry an RSA private key.
	_, err = h.svc.GetParametersForImport(ctx, call(), &kmsapi.GetParametersForImportInput{KeyId: id, WrappingAlgorithm: kmsapi.AlgorithmSpec(keys.WrapOAEPSHA256), WrappingKeySpec: "RSA_4096"})
	wantCode(t, err, kmserr.UnsupportedOperation)
	h.mustImport(id, keys.WrapRSAAESKWPSHA256, der)
	digest := sha256.Sum256([]byte("message"))
	sig, err := h.svc.Sign(ctx, call(), &kmsapi.SignInput{KeyId: id, Message: digest[:], MessageType: "DIGEST", SigningAlgorithm: "RSASSA_PSS_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(&rsaPriv.PublicKey, crypto.SHA256, digest[:], sig.Signature, nil); err != nil {
		t.Fatalf("the signature does not verify under the imported key: %v", err)
	}
	pub, err := h.svc.GetPublicKey(ctx, call(), &kmsapi.GetPublicKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := x509.MarshalPKIXPublicKey(&rsaPriv.PublicKey); !bytes.Equal(pub.PublicKey, want) {
		t.Fatal("GetPublicKey is not the imported key's public key")
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	_, err = h.importMaterial(h.importInput(id, keys.WrapRSAAESKWPSHA256, otherDER))
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	h.deleteMaterial(id, "")
	if md := h.describe(id); md.KeyState != statePendingImport {
		t.Fatalf("state %s", md.KeyState)
	}
	_, err = h.svc.Sign(ctx, call(), &kmsapi.SignInput{KeyId: id, Message: digest[:], MessageType: "DIGEST", SigningAlgorithm: "RSASSA_PSS_SHA_256"})
	wantCode(t, err, kmserr.InvalidState)
	// The same key again, with another wrapping algorithm.
	h.mustImport(id, sha1UnlessFIPS(keys.WrapRSAAESKWPSHA1, keys.WrapRSAAESKWPSHA256), der)
	if _, err := h.svc.Verify(ctx, call(), &kmsapi.VerifyInput{KeyId: id, Message: digest[:], MessageType: "DIGEST", Signature: sig.Signature, SigningAlgorithm: "RSASSA_PSS_SHA_256"}); err != nil {
		t.Fatalf("Verify after re-import: %v", err)
	}

	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecPriv)
	ec := h.createExternal("ECC_NIST_P256", "SIGN_VERIFY")
	_, err = h.importMaterial(h.importInput(ec, keys.WrapRSAAESKWPSHA256, der))
	wantCode(t, err, kmserr.IncorrectKeyMaterial) // an RSA key is not a P-256 key
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	_, err = h.importMaterial(h.importInput(ec, keys.WrapOAEPSHA256, p384DER))
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	h.mustImport(ec, keys.WrapOAEPSHA256, ecDER)
	esig, err := h.svc.Sign(ctx, call(), &kmsapi.SignInput{KeyId: ec, Message: []byte("message"), SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(&ecPriv.PublicKey, digest[:], esig.Signature) {
		t.Fatal("the ECDSA signature does not verify under the imported key")
	}
}

// TestImportedMaterialNotInDataFile imports recognisable material into
// each kind of key and scans the store file for it in every encoding a
// leak could take; the import token, which carries the wrapping private
// key, is never stored either.
func TestImportedMaterialNotInDataFile(t *testing.T) {
	h := newHarness(t)
	canary := []byte("CANARY-imported-0123456789abcdef") // 32 bytes
	sym := h.createExternal("SYMMETRIC_DEFAULT", "")
	p := h.params(sym, keys.WrapOAEPSHA256)
	in := &kmsapi.ImportKeyMaterialInput{KeyId: sym, ImportToken: p.ImportToken, EncryptedKeyMaterial: h.wrapFor(p, keys.WrapOAEPSHA256, canary), ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire}
	if _, err := h.importMaterial(in); err != nil {
		t.Fatal(err)
	}
	hm := h.createExternal("HMAC_512", "GENERATE_VERIFY_MAC")
	h.mustImport(hm, keys.WrapRSAAESKWPSHA256, bytes.Repeat(canary, 2))
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	forms := [][]byte{canary, []byte(hex.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(canary)), []byte(base64.StdEncoding.EncodeToString(canary)[:40]), p.ImportToken[8:40]}
	for _, form := range forms {
		if bytes.Contains(data, form) {
			t.Fatalf("the store file contains %q", form[:8])
		}
	}
}

// sha1UnlessFIPS is alg, or instead in FIPS 140-only mode, where SHA-1
// wrapping is refused, fallback.
func sha1UnlessFIPS(alg, fallback string) string {
	if fips140.Enforced() {
		return fallback
	}
	return alg
}

func TestImportInFIPSOnlyMode(t *testing.T) {
	h := newHarness(t)
	id := h.createExternal("SYMMETRIC_DEFAULT", "")
	for _, alg := range []string{keys.WrapOAEPSHA1, keys.WrapRSAAESKWPSHA1} {
		_, err := h.svc.GetParametersForImport(context.Background(), call(), &kmsapi.GetParametersForImportInput{KeyId: id, WrappingAlgorithm: kmsapi.AlgorithmSpec(alg), WrappingKeySpec: "RSA_2048"})
		if !fips140.Enforced() {
			if err != nil {
				t.Fatalf("%s outside FIPS 140-only mode: %v", alg, err)
			}
			continue
		}
		wantMessage(t, err, kmserr.UnsupportedOperation, "WrappingAlgorithm "+alg+" is not available in FIPS 140-only mode.")
	}
	// SHA-256 wrapping works in every mode.
	h.mustImport(id, keys.WrapRSAAESKWPSHA256, random(32))
}

func TestImportInTheChinaRegions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cn := &Call{Caller: RootCaller(testAccount, "cn-north-1")}
	out, err := h.svc.CreateKey(ctx, cn, &kmsapi.CreateKeyInput{Origin: originExternal})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	get := func(alg, spec string) (*kmsapi.GetParametersForImportOutput, error) {
		return h.svc.GetParametersForImport(ctx, cn, &kmsapi.GetParametersForImportInput{KeyId: id, WrappingAlgorithm: kmsapi.AlgorithmSpec(alg), WrappingKeySpec: kmsapi.WrappingKeySpec(spec)})
	}
	_, err = get(keys.WrapRSAAESKWPSHA256, "RSA_2048")
	wantMessage(t, err, kmserr.UnsupportedOperation, "WrappingAlgorithm RSA_AES_KEY_WRAP_SHA_256 is not available in the China Regions.")
	_, err = get(keys.WrapOAEPSHA256, "SM2")
	wantCode(t, err, kmserr.UnsupportedOperation)
	p, err := get(keys.WrapSM2PKE, "SM2")
	if fips140.Enforced() {
		wantMessage(t, err, kmserr.UnsupportedOperation, "WrappingKeySpec SM2 is not available in FIPS 140-only mode.")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	material := random(32)
	wrapped, err := keys.Wrap(p.PublicKey, keys.WrapSM2PKE, material)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := h.svc.ImportKeyMaterial(ctx, cn, &kmsapi.ImportKeyMaterialInput{KeyId: id, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire})
	if err != nil {
		t.Fatalf("import wrapped with SM2PKE: %v", err)
	}
	if imp.KeyId != keyARN("cn-north-1", testAccount, id) || !strings.HasPrefix(imp.KeyId, "arn:aws-cn:") {
		t.Fatalf("KeyId %s", imp.KeyId)
	}
	// The token is bound to the key's Region as well.
	_, err = h.svc.ImportKeyMaterial(ctx, call(), &kmsapi.ImportKeyMaterialInput{KeyId: h.createExternal("SYMMETRIC_DEFAULT", ""), ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped, ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire})
	wantCode(t, err, kmserr.InvalidImportToken)
}

// TestConcurrentNewMaterialOnePending imports different new material into
// one key from many goroutines: exactly one import becomes the material
// pending rotation, the others are refused.
func TestConcurrentNewMaterialOnePending(t *testing.T) {
	h := newHarness(t)
	id := h.createExternal("SYMMETRIC_DEFAULT", "")
	h.mustImport(id, keys.WrapOAEPSHA256, random(32))
	const n = 8
	inputs := make([]*kmsapi.ImportKeyMaterialInput, n)
	for i := range inputs {
		inputs[i] = h.importInput(id, keys.WrapOAEPSHA256, random(32))
		inputs[i].ImportType = kmsapi.ImportTypeNewKeyMaterial
	}
	errs := make(chan error, n)
	for _, in := range inputs {
		go func() {
			_, err := h.importMaterial(in)
			errs <- err
		}()
	}
	ok := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case kmserr.CodeOf(err) != kmserr.InvalidState:
			t.Errorf("concurrent import: %v", err)
		}
	}
	list := h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial)
	if ok != 1 || len(list) != 2 || list[1].KeyMaterialState != kmsapi.KeyMaterialStatePendingRotation {
		t.Fatalf("%d imports succeeded, %d materials listed; want 1 and 2", ok, len(list))
	}
}
