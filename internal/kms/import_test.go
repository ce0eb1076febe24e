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
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
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

func TestImportExpiration(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createExternal("SYMMETRIC_DEFAULT", "")
	material := random(32)
	in := h.importInput(id, keys.WrapOAEPSHA256, material)
	now := h.clock.Now()

	in.ExpirationModel = ""
	_, err := h.importMaterial(in)
	wantMessage(t, err, kmserr.Validation, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	in.ExpirationModel = kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire
	in.ValidTo = kmsapi.Time(now.Add(time.Hour))
	_, err = h.importMaterial(in)
	wantCode(t, err, kmserr.Validation)
	in.ExpirationModel = kmsapi.ExpirationModelTypeKeyMaterialExpires
	for _, at := range []time.Time{now, now.Add(-time.Hour), now.Add(365*24*time.Hour + time.Second)} {
		in.ValidTo = kmsapi.Time(at)
		_, err = h.importMaterial(in)
		wantCode(t, err, kmserr.Validation)
	}

	// Expires in two hours; then the same material again, expiring in one:
	// the first date no longer applies.
	in.ValidTo = kmsapi.Time(now.Add(2 * time.Hour))
	if _, err := h.importMaterial(in); err != nil {
		t.Fatal(err)
	}
	in2 := h.importInput(id, keys.WrapOAEPSHA256, material)
	in2.ExpirationModel, in2.ValidTo = kmsapi.ExpirationModelTypeKeyMaterialExpires, kmsapi.Time(now.Add(time.Hour))
	if _, err := h.importMaterial(in2); err != nil {
		t.Fatal(err)
	}
	md := h.describe(id)
	if md.ExpirationModel != kmsapi.ExpirationModelTypeKeyMaterialExpires || md.ValidTo == nil || !md.ValidTo.Time().Equal(now.Add(time.Hour)) {
		t.Fatalf("ExpirationModel %s ValidTo %v", md.ExpirationModel, md.ValidTo)
	}
	enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	expire := func(want int) {
		t.Helper()
		n, err := h.svc.ExpireImportedMaterial(ctx)
		if err != nil || n != want {
			t.Fatalf("ExpireImportedMaterial = %d, %v; want %d", n, err, want)
		}
	}
	h.clock.Add(59 * time.Minute)
	expire(0)
	h.reopen() // the index survives a restart
	h.clock.Add(time.Minute)
	expire(1)
	expire(0)
	md = h.describe(id)
	if md.KeyState != statePendingImport || md.ExpirationModel != "" || md.ValidTo != nil {
		t.Fatalf("after expiry: %s %s %v", md.KeyState, md.ExpirationModel, md.ValidTo)
	}
	_, err = h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, kmserr.InvalidState)
	h.clock.Add(2 * time.Hour) // past the superseded date: nothing more to do
	expire(0)
	if idx := h.rawExpiry(); len(idx) != 0 {
		t.Fatalf("%d expiry index entries left", len(idx))
	}
	h.mustImport(id, keys.WrapOAEPSHA256, material)
	if _, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("decrypt after re-importing expired material: %v", err)
	}
}

// rawExpiry returns the keys of the expiry index.
func (h *harness) rawExpiry() [][]byte {
	h.t.Helper()
	var out [][]byte
	err := h.st.View(context.Background(), func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketImportExpiry, nil, nil, 0)
		for _, kv := range kvs {
			out = append(out, kv.Key)
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func TestImportNewMaterialAndRotate(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createExternal("SYMMETRIC_DEFAULT", "")
	first, second := random(32), random(32)
	m1 := h.mustImport(id, keys.WrapOAEPSHA256, first)
	enc1, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	rotate := func() error {
		_, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id})
		return err
	}
	wantMessage(t, rotate(), kmserr.InvalidState, "No available key material pending rotation for the key: "+arnOf(id)+".")

	in := h.importInput(id, keys.WrapOAEPSHA256, second)
	in.ImportType, in.KeyMaterialDescription = kmsapi.ImportTypeNewKeyMaterial, "second"
	in.KeyMaterialId = m1
	_, err = h.importMaterial(in)
	wantCode(t, err, kmserr.Validation)
	in.KeyMaterialId = ""
	out, err := h.importMaterial(in)
	if err != nil {
		t.Fatal(err)
	}
	m2 := out.KeyMaterialId
	if md := h.describe(id); md.CurrentKeyMaterialId != m1 || md.KeyState != stateEnabled {
		t.Fatalf("pending material became current early: %s %s", md.CurrentKeyMaterialId, md.KeyState)
	}
	list := h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial)
	if len(list) != 2 || list[0].KeyMaterialId != m1 || list[0].KeyMaterialState != kmsapi.KeyMaterialStateCurrent ||
		list[1].KeyMaterialId != m2 || list[1].KeyMaterialState != kmsapi.KeyMaterialStatePendingRotation ||
		list[1].KeyMaterialDescription != "second" || list[1].ImportState != kmsapi.ImportStateImported || list[1].RotationDate != nil {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL: %+v", list)
	}
	if got := h.rotations(id, ""); len(got) != 0 {
		t.Fatalf("ROTATIONS_ONLY before any rotation: %+v", got)
	}
	third := h.importInput(id, keys.WrapOAEPSHA256, random(32))
	third.ImportType = kmsapi.ImportTypeNewKeyMaterial
	_, err = h.importMaterial(third)
	wantCode(t, err, kmserr.InvalidState)
	if msg := kmserr.As(err).Message; !strings.Contains(msg, "cannot be imported into KMS key "+id+", because another key material (id: "+m2+") is pending rotation.") {
		t.Fatalf("message %q", msg)
	}
	again := h.importInput(id, keys.WrapOAEPSHA256, first)
	again.ImportType = kmsapi.ImportTypeNewKeyMaterial
	_, err = h.importMaterial(again)
	wantCode(t, err, kmserr.IncorrectKeyMaterial)

	if err := rotate(); err != nil {
		t.Fatal(err)
	}
	if md := h.describe(id); md.CurrentKeyMaterialId != m2 {
		t.Fatalf("current material %s after rotation, want %s", md.CurrentKeyMaterialId, m2)
	}
	wantCode(t, rotate(), kmserr.InvalidState)
	enc2, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("two")})
	if err != nil {
		t.Fatal(err)
	}
	for blob, want := range map[string]string{string(enc1.CiphertextBlob): m1, string(enc2.CiphertextBlob): m2} {
		dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: []byte(blob)})
		if err != nil || dec.KeyMaterialId != want {
			t.Fatalf("decrypt: %v, material %v, want %s", err, dec, want)
		}
	}
	rot := h.rotations(id, "")
	if len(rot) != 1 || rot[0].KeyMaterialId != m2 || rot[0].RotationType != kmsapi.RotationTypeOnDemand || rot[0].KeyMaterialState != kmsapi.KeyMaterialStateCurrent {
		t.Fatalf("ROTATIONS_ONLY after rotation: %+v", rot)
	}

	// Deleting the non-current material makes the key PendingImport; the
	// same bytes named by their KeyMaterialId bring it back.
	h.deleteMaterial(id, m1)
	if st := h.describe(id).KeyState; st != statePendingImport {
		t.Fatalf("state %s after deleting non-current material", st)
	}
	if all := h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial); all[0].ImportState != kmsapi.ImportStatePendingImport || all[0].ExpirationModel != "" {
		t.Fatalf("deleted material listed as %+v", all[0])
	}
	back := h.importInput(id, keys.WrapOAEPSHA256, first)
	back.KeyMaterialId = m2 // not these bytes
	_, err = h.importMaterial(back)
	wantCode(t, err, kmserr.IncorrectKeyMaterial)
	back = h.importInput(id, keys.WrapOAEPSHA256, first)
	back.ImportType, back.KeyMaterialId = kmsapi.ImportTypeExistingKeyMaterial, m1
	if _, err := h.importMaterial(back); err != nil {
		t.Fatal(err)
	}
	if md := h.describe(id); md.KeyState != stateEnabled || md.CurrentKeyMaterialId != m2 {
		t.Fatalf("after re-import: %s %s", md.KeyState, md.CurrentKeyMaterialId)
	}

	// Material pending rotation is not bound to the key: deleting it
	// forgets it and leaves the key Enabled.
	next := h.importInput(id, keys.WrapOAEPSHA256, random(32))
	next.ImportType = kmsapi.ImportTypeNewKeyMaterial
	out, err = h.importMaterial(next)
	if err != nil {
		t.Fatal(err)
	}
	h.deleteMaterial(id, out.KeyMaterialId)
	if md := h.describe(id); md.KeyState != stateEnabled {
		t.Fatalf("deleting pending material: %s", md.KeyState)
	}
	if n := len(h.rotations(id, kmsapi.IncludeKeyMaterialAllKeyMaterial)); n != 2 {
		t.Fatalf("%d materials listed, want 2", n)
	}
	_, err = h.svc.DeleteImportedKeyMaterial(ctx, call(), &kmsapi.DeleteImportedKeyMaterialInput{KeyId: id, KeyMaterialId: out.KeyMaterialId})
	wantCode(t, err, kmserr.NotFound)
}

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
