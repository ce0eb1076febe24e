package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// TestResealerKeepsTheRestOfTheRecord re-seals an access key record: only
// the sealed value changes, it unseals under the new root key with the same
// AAD, and the census then finds nothing under the old key; a sealed value
// in a field the table does not know still holds the old key back.
func TestResealerKeepsTheRestOfTheRecord(t *testing.T) {
	sl, err := seal.Create(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("kmsd/access-key/v1|AKIAEXAMPLE")
	old, _ := sl.Seal(secret.Bytes("the secret"), aad)
	rec := []byte(`{"v":1,"accessKeyId":"AKIAEXAMPLE","accountId":"111122223333","sealedSecret":"` + base64.StdEncoding.EncodeToString(old) + `","created":"2026-01-01T00:00:00Z"}`)
	if _, err := sl.Rotate(); err != nil {
		t.Fatal(err)
	}
	out, err := resealer(sl)([]byte("access-keys"), []byte("AKIAEXAMPLE"), rec)
	if err != nil || out == nil {
		t.Fatalf("resealer: %v", err)
	}
	before, after, _ := strings.Cut(string(rec), base64.StdEncoding.EncodeToString(old))
	if !bytes.HasPrefix(out, []byte(before)) || !bytes.HasSuffix(out, []byte(after)) {
		t.Fatalf("the record changed beyond its sealed value:\n%s\n%s", rec, out)
	}
	nb, _ := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(string(out), before), after))
	if id, _ := sealedUnder(nb); id != 2 {
		t.Fatalf("re-sealed under root key %d, want 2", id)
	}
	if pt, err := sl.Unseal(nb, aad); err != nil || string(pt) != "the secret" {
		t.Fatalf("the re-sealed value does not unseal with its AAD: %v", err)
	}
	if again, err := resealer(sl)([]byte("access-keys"), nil, out); err != nil || again != nil {
		t.Fatalf("a record already under the active key was changed: %v", err)
	}
	census := sealedUnderCensus(1)
	if err := census([]byte("access-keys"), []byte("AKIAEXAMPLE"), out); err != nil {
		t.Fatalf("census after re-sealing: %v", err)
	}
	if err := census([]byte("keys"), []byte("k"), []byte{0xC1, 200, 0}); err == nil {
		t.Fatal("census passed a compact key record it cannot read")
	}
	unknown := []byte(`{"nested":{"list":["x","` + base64.StdEncoding.EncodeToString(old) + `"]}}`)
	if err := census([]byte("some-new-bucket"), []byte("k"), unknown); err == nil || !strings.Contains(err.Error(), "sealed under root key 1") {
		t.Fatalf("census of a record with an unknown sealed field: %v", err)
	}
}

// TestCensusReadsCompactKeyRecords: a key record in the compact form
// holds the old root key back until its material is re-sealed, and the
// re-sealed record still unseals.
func TestCensusReadsCompactKeyRecords(t *testing.T) {
	dir := t.TempDir()
	st, sl, svc := bareService(t, dir)
	defer st.Close()
	ctx := context.Background()
	k, err := svc.CreateKey(ctx, &kms.Call{Caller: kms.RootCaller("111122223333", "us-east-1")}, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	at := []byte("111122223333/us-east-1/" + k.KeyMetadata.KeyId)
	var rec []byte
	if err := st.View(ctx, func(tx store.Tx) error { rec, err = tx.Get([]byte("keys"), at); return err }); err != nil {
		t.Fatal(err)
	}
	if !kms.IsCompactKeyRecord(rec) {
		t.Fatalf("a new key is stored as %q", rec)
	}
	if _, err := sl.Rotate(); err != nil {
		t.Fatal(err)
	}
	census := sealedUnderCensus(1)
	if err := census([]byte("keys"), at, rec); err == nil || !strings.Contains(err.Error(), "sealed under root key 1") {
		t.Fatalf("census of a compact record under the old key: %v", err)
	}
	out, err := resealer(sl)([]byte("keys"), at, rec)
	if err != nil || out == nil {
		t.Fatalf("resealer: %v", err)
	}
	if err := census([]byte("keys"), at, out); err != nil {
		t.Fatalf("census after re-sealing: %v", err)
	}
	ms, err := kms.StoredKeyMaterials(out)
	if err != nil || len(ms) != 1 {
		t.Fatalf("materials after re-sealing: %v (%d)", err, len(ms))
	}
	if pt, err := sl.Unseal(ms[0].Blob, ms[0].AAD); err != nil || len(pt) != 32 {
		t.Fatalf("the re-sealed material does not unseal: %v", err)
	}
	if again, err := resealer(sl)([]byte("keys"), at, out); err != nil || again != nil {
		t.Fatalf("a record already under the active key was changed: %v", err)
	}
}
