package kms

import (
	"bytes"
	"context"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
)

func (h *harness) createExternal(spec, usage string) string {
	h.t.Helper()
	out, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{
		KeySpec: kmsapi.KeySpec(spec), KeyUsage: kmsapi.KeyUsageType(usage), Origin: kmsapi.OriginType(originExternal),
	})
	if err != nil {
		h.t.Fatalf("CreateKey %s EXTERNAL: %v", spec, err)
	}
	return out.KeyMetadata.KeyId
}

func (h *harness) params(id, alg string) *kmsapi.GetParametersForImportOutput {
	h.t.Helper()
	out, err := h.svc.GetParametersForImport(context.Background(), call(), &kmsapi.GetParametersForImportInput{
		KeyId: id, WrappingAlgorithm: kmsapi.AlgorithmSpec(alg), WrappingKeySpec: "RSA_2048",
	})
	if err != nil {
		h.t.Fatalf("GetParametersForImport %s: %v", alg, err)
	}
	return out
}

// wrapFor wraps material under the public key of p with alg.
func (h *harness) wrapFor(p *kmsapi.GetParametersForImportOutput, alg string, material []byte) []byte {
	h.t.Helper()
	w, err := keys.Wrap(p.PublicKey, alg, material)
	if err != nil {
		h.t.Fatalf("wrap: %v", err)
	}
	return w
}

// importInput prepares an import of material that does not expire.
func (h *harness) importInput(id, alg string, material []byte) *kmsapi.ImportKeyMaterialInput {
	h.t.Helper()
	p := h.params(id, alg)
	return &kmsapi.ImportKeyMaterialInput{
		KeyId: id, ImportToken: p.ImportToken, EncryptedKeyMaterial: h.wrapFor(p, alg, material),
		ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire,
	}
}

func (h *harness) importMaterial(in *kmsapi.ImportKeyMaterialInput) (*kmsapi.ImportKeyMaterialOutput, error) {
	return h.svc.ImportKeyMaterial(context.Background(), call(), in)
}

func (h *harness) mustImport(id, alg string, material []byte) string {
	h.t.Helper()
	out, err := h.importMaterial(h.importInput(id, alg, material))
	if err != nil {
		h.t.Fatalf("ImportKeyMaterial: %v", err)
	}
	return out.KeyMaterialId
}

func (h *harness) describe(id string) *kmsapi.KeyMetadata {
	h.t.Helper()
	out, err := h.svc.DescribeKey(context.Background(), call(), &kmsapi.DescribeKeyInput{KeyId: id})
	if err != nil {
		h.t.Fatalf("DescribeKey: %v", err)
	}
	return out.KeyMetadata
}

func (h *harness) deleteMaterial(id, materialID string) *kmsapi.DeleteImportedKeyMaterialOutput {
	h.t.Helper()
	out, err := h.svc.DeleteImportedKeyMaterial(context.Background(), call(), &kmsapi.DeleteImportedKeyMaterialInput{KeyId: id, KeyMaterialId: materialID})
	if err != nil {
		h.t.Fatalf("DeleteImportedKeyMaterial: %v", err)
	}
	return out
}

func wantMessage(t *testing.T, err error, code, msg string) {
	t.Helper()
	wantCode(t, err, code)
	if got := kmserr.As(err).Message; got != msg {
		t.Fatalf("%s message %q, want %q", code, got, msg)
	}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func arnOf(id string) string { return keyARN(testRegion, testAccount, id) }

func TestImportSymmetricMaterialLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createExternal("SYMMETRIC_DEFAULT", "")
	md := h.describe(id)
	if md.KeyState != statePendingImport || *md.Enabled || md.Origin != originExternal || md.CurrentKeyMaterialId != "" || md.ExpirationModel != "" {
		t.Fatalf("new EXTERNAL key: state %s enabled %v origin %s material %q expiration %q", md.KeyState, *md.Enabled, md.Origin, md.CurrentKeyMaterialId, md.ExpirationModel)
	}
	_, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantMessage(t, err, kmserr.InvalidState, arnOf(id)+" is pending import.")

	material := random(32)
	mid := h.mustImport(id, keys.WrapOAEPSHA256, material)
	if want := keys.ImportedMaterialID(id, material).String(); mid != want {
		t.Fatalf("KeyMaterialId %s, want %s (derived from the key and the material)", mid, want)
	}
	md = h.describe(id)
	if md.KeyState != stateEnabled || md.CurrentKeyMaterialId != mid || md.ExpirationModel != kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire || md.ValidTo != nil {
		t.Fatalf("after import: state %s material %s expiration %s validTo %v", md.KeyState, md.CurrentKeyMaterialId, md.ExpirationModel, md.ValidTo)
	}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func() error {
		out, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err == nil && (string(out.Plaintext) != "secret" || out.KeyMaterialId != mid) {
			t.Fatalf("decrypt: %q under %s", out.Plaintext, out.KeyMaterialId)
		}
		return err
	}
	if err := decrypt(); err != nil {
		t.Fatal(err)
	}
	// The blob opens with the imported bytes: the import really used them.
	if pt := decryptWithMaterial(t, material, enc.CiphertextBlob); string(pt) != "secret" {
		t.Fatalf("the blob does not open with the imported bytes: %q", pt)
	}

	del := h.deleteMaterial(id, "")
	if del.KeyMaterialId != mid || del.KeyId != arnOf(id) {
		t.Fatalf("DeleteImportedKeyMaterial answered %+v", del)
	}
	md = h.describe(id)
	if md.KeyState != statePendingImport || md.CurrentKeyMaterialId != mid || md.ExpirationModel != "" {
		t.Fatalf("after deletion: state %s material %q expiration %q", md.KeyState, md.CurrentKeyMaterialId, md.ExpirationModel)
	}
	wantMessage(t, decrypt(), kmserr.InvalidState, arnOf(id)+" is pending import.")
	_, err = h.svc.EnableKey(ctx, call(), &kmsapi.EnableKeyInput{KeyId: id})
	wantCode(t, err, kmserr.InvalidState)
	// Deleting again changes nothing.
	h.deleteMaterial(id, "")

	_, err = h.importMaterial(h.importInput(id, keys.WrapOAEPSHA256, random(32)))
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	if h.describe(id).KeyState != statePendingImport {
		t.Fatal("a refused import changed the key state")
	}
	if again := h.mustImport(id, keys.WrapRSAAESKWPSHA256, material); again != mid {
		t.Fatalf("re-import gave KeyMaterialId %s, want %s", again, mid)
	}
	if h.describe(id).KeyState != stateEnabled {
		t.Fatal("re-importing the same material did not enable the key")
	}
	if err := decrypt(); err != nil {
		t.Fatalf("old ciphertext after re-import: %v", err)
	}
	// Different material into an Enabled key is refused as well, and
	// importing the same material again (to change its expiration) works.
	_, err = h.importMaterial(h.importInput(id, keys.WrapOAEPSHA256, random(32)))
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	h.mustImport(id, keys.WrapOAEPSHA256, material)
	// Material of the wrong size.
	for _, n := range []int{16, 31, 33, 64} {
		_, err = h.importMaterial(h.importInput(id, keys.WrapOAEPSHA256, random(n)))
		wantCode(t, err, kmserr.IncorrectKeyMaterial)
	}
}

// decryptWithMaterial opens a blob with the material bytes themselves.
func decryptWithMaterial(t *testing.T, material, blob []byte) []byte {
	t.Helper()
	pt, err := keys.DecryptBlob(blob, secret.Bytes(material), nil)
	if err != nil {
		t.Fatalf("decrypt the blob with the imported bytes: %v", err)
	}
	return pt
}

func TestSameMaterialInTwoKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	material := random(32)
	a, b := h.createExternal("SYMMETRIC_DEFAULT", ""), h.createExternal("SYMMETRIC_DEFAULT", "")
	ma, mb := h.mustImport(a, keys.WrapOAEPSHA256, material), h.mustImport(b, keys.WrapOAEPSHA256, material)
	if ma == mb {
		t.Fatal("the same material got the same KeyMaterialId in two keys")
	}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: a, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: b})
	wantCode(t, err, kmserr.IncorrectKey)
}

func TestImportTokens(t *testing.T) {
	h := newHarness(t)
	a, b := h.createExternal("SYMMETRIC_DEFAULT", ""), h.createExternal("SYMMETRIC_DEFAULT", "")
	material := random(32)
	p := h.params(a, keys.WrapOAEPSHA256)
	if got, want := p.ParametersValidTo.Time(), h.clock.Now().Add(24*time.Hour); !got.Equal(want) {
		t.Fatalf("ParametersValidTo %s, want %s", got, want)
	}
	if p.KeyId != arnOf(a) {
		t.Fatalf("KeyId %s", p.KeyId)
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if rk, ok := pub.(*rsa.PublicKey); err != nil || !ok || rk.N.BitLen() != 2048 {
		t.Fatalf("PublicKey is not an RSA-2048 SPKI: %T %v", pub, err)
	}
	wrapped := h.wrapFor(p, keys.WrapOAEPSHA256, material)
	in := func(id string, token, wrapped []byte) *kmsapi.ImportKeyMaterialInput {
		return &kmsapi.ImportKeyMaterialInput{KeyId: id, ImportToken: token, EncryptedKeyMaterial: wrapped, ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire}
	}

	// A token of key a does not import into key b.
	_, err = h.importMaterial(in(b, p.ImportToken, wrapped))
	wantCode(t, err, kmserr.InvalidImportToken)
	// A damaged token.
	bad := bytes.Clone(p.ImportToken)
	bad[len(bad)/2] ^= 1
	_, err = h.importMaterial(in(a, bad, wrapped))
	wantCode(t, err, kmserr.InvalidImportToken)
	// Material wrapped under another call's public key, or with another
	// algorithm than the token's, does not unwrap.
	p2 := h.params(a, keys.WrapOAEPSHA256)
	_, err = h.importMaterial(in(a, p.ImportToken, h.wrapFor(p2, keys.WrapOAEPSHA256, material)))
	wantCode(t, err, kmserr.InvalidCiphertext)
	_, err = h.importMaterial(in(a, p.ImportToken, h.wrapFor(p, keys.WrapRSAAESKWPSHA256, material)))
	wantCode(t, err, kmserr.InvalidCiphertext)
	garbled := bytes.Clone(wrapped)
	garbled[0] ^= 0x80
	_, err = h.importMaterial(in(a, p.ImportToken, garbled))
	wantCode(t, err, kmserr.InvalidCiphertext)
	if h.describe(a).KeyState != statePendingImport {
		t.Fatal("a refused import changed the key")
	}

	// Valid for exactly 24 hours, across a restart.
	h.reopen()
	h.clock.Add(24 * time.Hour)
	if _, err := h.importMaterial(in(a, p.ImportToken, wrapped)); err != nil {
		t.Fatalf("import at ParametersValidTo: %v", err)
	}
	h.clock.Add(time.Second)
	_, err = h.importMaterial(in(a, p.ImportToken, wrapped))
	wantCode(t, err, kmserr.ExpiredImportToken)
}

func TestGetParametersForImportRefusals(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	get := func(id, alg, spec string) error {
		_, err := h.svc.GetParametersForImport(ctx, call(), &kmsapi.GetParametersForImportInput{KeyId: id, WrappingAlgorithm: kmsapi.AlgorithmSpec(alg), WrappingKeySpec: kmsapi.WrappingKeySpec(spec)})
		return err
	}
	aws := h.createKey()
	wantMessage(t, get(aws, keys.WrapOAEPSHA256, "RSA_2048"), kmserr.UnsupportedOperation, arnOf(aws)+" origin is AWS_KMS which is not valid for this operation.")
	_, err := h.importMaterial(&kmsapi.ImportKeyMaterialInput{KeyId: aws, ImportToken: []byte("t"), EncryptedKeyMaterial: []byte("m"), ExpirationModel: kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire})
	wantMessage(t, err, kmserr.UnsupportedOperation, arnOf(aws)+" origin is AWS_KMS which is not valid for this operation.")
	_, err = h.svc.DeleteImportedKeyMaterial(ctx, call(), &kmsapi.DeleteImportedKeyMaterialInput{KeyId: aws})
	wantMessage(t, err, kmserr.UnsupportedOperation, arnOf(aws)+" origin is AWS_KMS which is not valid for this operation.")

	sym := h.createExternal("SYMMETRIC_DEFAULT", "")
	wantCode(t, get(sym, "RSAES_PKCS1_V1_5", "RSA_2048"), kmserr.UnsupportedOperation)
	wantCode(t, get(sym, "SM2PKE", "SM2"), kmserr.UnsupportedOperation)
	wantCode(t, get(sym, keys.WrapOAEPSHA256, "SM2"), kmserr.UnsupportedOperation)

	rsaKey := h.createExternal("RSA_3072", "SIGN_VERIFY")
	for _, alg := range []string{keys.WrapOAEPSHA1, keys.WrapOAEPSHA256} {
		wantCode(t, get(rsaKey, alg, "RSA_4096"), kmserr.UnsupportedOperation)
	}
	p521 := h.createExternal("ECC_NIST_P521", "SIGN_VERIFY")
	wantCode(t, get(p521, keys.WrapOAEPSHA256, "RSA_2048"), kmserr.UnsupportedOperation)
	if err := get(p521, keys.WrapOAEPSHA256, "RSA_3072"); err != nil {
		t.Fatalf("ECC_NIST_P521 with RSA_3072 and RSAES_OAEP_SHA_256: %v", err)
	}
	if err := get(p521, keys.WrapRSAAESKWPSHA256, "RSA_2048"); err != nil {
		t.Fatalf("ECC_NIST_P521 with RSA_2048 and RSA_AES_KEY_WRAP_SHA_256: %v", err)
	}

	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: sym, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	wantMessage(t, get(sym, keys.WrapOAEPSHA256, "RSA_2048"), kmserr.InvalidState, arnOf(sym)+" is pending deletion.")
	// Cancelling the deletion of a key without material leaves it PendingImport.
	if _, err := h.svc.CancelKeyDeletion(ctx, call(), &kmsapi.CancelKeyDeletionInput{KeyId: sym}); err != nil {
		t.Fatal(err)
	}
	if st := h.describe(sym).KeyState; st != statePendingImport {
		t.Fatalf("cancelled deletion of a key without material: %s, want PendingImport", st)
	}
}

func TestCreateKeyOriginExternalSpecs(t *testing.T) {
	h := newHarness(t)
	for _, spec := range []string{"ML_DSA_65", "ML_KEM_768"} {
		usages, _ := keys.KeyUsages(spec)
		_, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{KeySpec: kmsapi.KeySpec(spec), KeyUsage: kmsapi.KeyUsageType(usages[0]), Origin: originExternal})
		if !keys.FIPSApproved(spec) && fips140.Enforced() {
			wantCode(t, err, kmserr.UnsupportedOperation) // refused as a spec first
			continue
		}
		wantMessage(t, err, kmserr.UnsupportedOperation, "KeySpec "+spec+" does not support imported key material (Origin EXTERNAL).")
	}
	_, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{Origin: "AWS_CLOUDHSM"})
	wantCode(t, err, kmserr.UnsupportedOperation)
	for _, spec := range []string{"HMAC_224", "RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519"} {
		usages, _ := keys.KeyUsages(spec)
		id := h.createExternal(spec, usages[0])
		md := h.describe(id)
		if md.KeyState != statePendingImport || md.CurrentKeyMaterialId != "" {
			t.Fatalf("%s: %s %q", spec, md.KeyState, md.CurrentKeyMaterialId)
		}
	}
}
