package kms

import (
	"context"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

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
