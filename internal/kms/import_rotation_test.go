package kms

import (
	"context"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

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
