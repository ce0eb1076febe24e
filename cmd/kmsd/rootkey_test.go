package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"go.etcd.io/bbolt"
)

// rootFingerprints computes, from a keyring file, what kmsd prints as the
// fingerprint of each root key: HKDF-SHA256 (RFC 5869, empty salt) of the
// key with info "kmsd/root-key-check/v1", 16 bytes, written out here with
// crypto/hmac instead of the crypto/hkdf kmsd uses.
func rootFingerprints(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fingerprintsOf(t, data)
}

func fingerprintsOf(t *testing.T, keyring []byte) []string {
	t.Helper()
	var f struct {
		Keys []struct{ Key []byte } `json:"keys"`
	}
	if err := json.Unmarshal(keyring, &f); err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, k := range f.Keys {
		ext := hmac.New(sha256.New, make([]byte, sha256.Size))
		ext.Write(k.Key)
		exp := hmac.New(sha256.New, ext.Sum(nil))
		exp.Write([]byte("kmsd/root-key-check/v1\x01"))
		fps = append(fps, hex.EncodeToString(exp.Sum(nil)[:16]))
	}
	return fps
}

// startRefused runs kmsd expecting it to refuse to start: it must exit
// non-zero without ever answering /healthz. It returns the output.
func startRefused(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(kmsdBin, append(args, "--listen", addr)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("kmsd %s exited with %v, want a non-zero exit:\n%s", strings.Join(args, " "), err, out)
			}
			return out.String()
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("kmsd %s neither started nor exited:\n%s", strings.Join(args, " "), out)
		case <-time.After(20 * time.Millisecond):
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("kmsd %s started and reported healthy; want it to refuse:\n%s", strings.Join(args, " "), out)
			}
		}
	}
}

// TestRootKeyMissingOrForeignIsRefused deletes a data directory's root.key,
// then replaces it with another data directory's: each time kmsd refuses to
// start, saying where it looked and which fingerprint the store expects,
// and creates no key. With its own root.key back, the data is intact.
func TestRootKeyMissingOrForeignIsRefused(t *testing.T) {
	ctx := context.Background()
	data, other := t.TempDir(), t.TempDir()
	keyPath := filepath.Join(data, "root.key")

	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, "any-secret-will-do")
	k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("still here")})
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	startKMSD(t, "dev", "--data", other).stop()
	own, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	expected := rootFingerprints(t, keyPath)[0]
	foreign := rootFingerprints(t, filepath.Join(other, "root.key"))[0]

	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	out := startRefused(t, "dev", "--data", data)
	for _, want := range []string{keyPath + " is missing", "expected root key 1 with fingerprint " + expected} {
		if !strings.Contains(out, want) {
			t.Errorf("root.key deleted: output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("kmsd made a new root.key for a store that has records (stat: %v)", err)
	}
	// The admin commands open the same way.
	var adminOut bytes.Buffer
	if err := run(ctx, []string{"admin", "create-access-key", "--data", data}, &adminOut, &adminOut, os.Getenv); err == nil || !strings.Contains(err.Error(), expected) {
		t.Fatalf("admin create-access-key without root.key: %v, want the refusal naming the fingerprint", err)
	}

	foreignKey, err := os.ReadFile(filepath.Join(other, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, foreignKey, 0o600); err != nil {
		t.Fatal(err)
	}
	out = startRefused(t, "dev", "--data", data)
	for _, want := range []string{keyPath + " is not the one that sealed this store", "expected root key 1 with fingerprint " + expected, "found root key 1 with fingerprint " + foreign} {
		if !strings.Contains(out, want) {
			t.Errorf("foreign root.key: output lacks %q:\n%s", want, out)
		}
	}

	if err := os.WriteFile(keyPath, own, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startKMSD(t, "dev", "--data", data)
	dec, err := p.client(docKey, "any-secret-will-do").Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "still here" {
		t.Fatalf("with its own root.key back: %v", err)
	}
	p.stop()
}

// editBolt changes kmsd.db of a stopped kmsd directly, as an attacker with
// write access to the file would.
func editBolt(t *testing.T, data string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(data, "kmsd.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// recordKey finds the bbolt key in bucket that ends with suffix.
func recordKey(tx *bbolt.Tx, bucket, suffix string) []byte {
	var found []byte
	_ = tx.Bucket([]byte(bucket)).ForEach(func(k, _ []byte) error {
		if strings.HasSuffix(string(k), suffix) {
			found = bytes.Clone(k)
		}
		return nil
	})
	return found
}

// TestEditedRecordsAreRefused edits records in kmsd.db while kmsd is
// stopped: re-enables a disabled key, copies one key's record over
// another's, and points an alias at another key. After a restart each
// edited record is refused with KMSInternalException, nothing panics, the
// plaintext appears nowhere, and untouched keys still work. (The alias is
// edited in another Region: a key's aliases are read with it, so a forged
// alias refuses every key of its account and Region.)
func TestEditedRecordsAreRefused(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	const canary = "canary plaintext 5b1f0e"
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, "any-secret-will-do")
	west := awskms.New(c.Options(), func(o *awskms.Options) { o.Region = "us-west-2" })
	newKey := func(c *awskms.Client) string {
		k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		return *k.KeyMetadata.KeyId
	}
	disabled, donor, victim, untouched := newKey(c), newKey(c), newKey(c), newKey(c)
	aliasTarget, aliasDonor := newKey(west), newKey(west)
	encrypt := func(keyID string) []byte {
		enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte(canary)})
		if err != nil {
			t.Fatal(err)
		}
		return enc.CiphertextBlob
	}
	blobDisabled, blobVictim, blobUntouched := encrypt(disabled), encrypt(victim), encrypt(untouched)
	if _, err := c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(disabled)}); err != nil {
		t.Fatal(err)
	}
	if _, err := west.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(aliasTarget)}); err != nil {
		t.Fatal(err)
	}
	p.stop()

	editBolt(t, data, func(tx *bbolt.Tx) error {
		keys := tx.Bucket([]byte("keys"))
		k := recordKey(tx, "keys", disabled)
		// The compact record's state field: tag 11, length, the state.
		v := bytes.Replace(keys.Get(k), []byte("\x0b\x08Disabled"), []byte("\x0b\x07Enabled"), 1)
		if bytes.Equal(v, keys.Get(k)) {
			t.Fatal("the disabled key's record does not say Disabled")
		}
		if err := keys.Put(k, v); err != nil {
			return err
		}
		if err := keys.Put(recordKey(tx, "keys", victim), bytes.Clone(keys.Get(recordKey(tx, "keys", donor)))); err != nil {
			return err
		}
		aliases := tx.Bucket([]byte("aliases"))
		a := recordKey(tx, "aliases", "alias/app")
		return aliases.Put(a, bytes.Replace(aliases.Get(a), []byte(aliasTarget), []byte(aliasDonor), 1))
	})

	p = startKMSD(t, "dev", "--data", data)
	c = p.client(docKey, "any-secret-will-do")
	west = awskms.New(c.Options(), func(o *awskms.Options) { o.Region = "us-west-2" })
	refused := func(what string, err error) {
		t.Helper()
		if errCode(err) != "KMSInternalException" {
			t.Errorf("%s: %v, want KMSInternalException", what, err)
		}
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Errorf("%s: the error carries the plaintext: %v", what, err)
		}
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blobDisabled})
	refused("Decrypt under the re-enabled key", err)
	if dec != nil && bytes.Contains(dec.Plaintext, []byte(canary)) {
		t.Error("the edited record re-enabled the key: Decrypt returned the plaintext")
	}
	_, err = c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(victim)})
	refused("DescribeKey of the key whose record was replaced", err)
	_, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blobVictim})
	refused("Decrypt under the key whose record was replaced", err)
	_, err = west.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("x")})
	refused("Encrypt through the retargeted alias", err)

	dec, err = c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blobUntouched})
	if err != nil || string(dec.Plaintext) != canary {
		t.Fatalf("untouched key: %v\n%s", err, p.stderr)
	}
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(donor)}); err != nil {
		t.Fatalf("the donor key itself: %v", err)
	}
	p.stop() // fails the test if kmsd died or exits non-zero
	logs := p.stdout.String() + p.stderr.String()
	if strings.Contains(logs, "panic") || strings.Contains(logs, canary) {
		t.Fatalf("kmsd output holds a panic or the plaintext:\n%s", logs)
	}
}

// bareService opens a kms service over bare bbolt and the file seal in
// dir, as kmsd did before stores recorded their root keyring; the caller
// closes the store.
func bareService(t *testing.T, dir string) (*bolt.Store, *seal.FileSeal, *kms.Service) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: st, Sealer: sl, Authorizer: kms.AccountOwner{}})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return st, sl, svc
}

// legacyDataDir writes a data directory the way kmsd did before stores
// recorded their root keyring: a key and a ciphertext under it, through the
// same kms service over bare bbolt and the file seal, with the key record
// then written again as the JSON of those releases.
func legacyDataDir(t *testing.T) (dir, keyID string, blob []byte) {
	t.Helper()
	dir = t.TempDir()
	st, _, svc := bareService(t, dir)
	defer st.Close()
	ctx := context.Background()
	call := &kms.Call{Caller: kms.RootCaller("111122223333", "us-east-1")}
	k, err := svc.CreateKey(ctx, call, &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := svc.Encrypt(ctx, call, &kmsapi.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("from an earlier kmsd")})
	if err != nil {
		t.Fatal(err)
	}
	id := k.KeyMetadata.KeyId
	if err := st.Update(ctx, func(tx store.Tx) error {
		at := []byte("111122223333/us-east-1/" + id)
		v, err := tx.Get([]byte("keys"), at)
		if err != nil {
			return err
		}
		ms, err := kms.StoredKeyMaterials(v)
		if err != nil || len(ms) != 1 {
			return fmt.Errorf("materials of the new key: %v (%d)", err, len(ms))
		}
		material := string(ms[0].AAD[bytes.LastIndexByte(ms[0].AAD, '|')+1:])
		created := k.KeyMetadata.CreationDate.Time().UTC().Format(time.RFC3339Nano)
		rec, err := json.Marshal(map[string]any{
			"schema": 1, "keyId": id, "accountId": "111122223333", "region": "us-east-1", "description": "",
			"keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT", "origin": "AWS_KMS", "keyManager": "CUSTOMER",
			"keyState": "Enabled", "created": created, "multiRegion": false, "policy": kms.DefaultPolicy("111122223333"),
			"materials":       []map[string]any{{"id": material, "created": created, "origin": "AWS_KMS", "sealed": ms[0].Blob}},
			"currentMaterial": material,
		})
		if err != nil {
			return err
		}
		return tx.Put([]byte("keys"), at, rec)
	}); err != nil {
		t.Fatal(err)
	}
	return dir, id, enc.CiphertextBlob
}

// hasCheckRecord reports whether kmsd.db holds the root keyring check.
func hasCheckRecord(t *testing.T, dir string) bool {
	t.Helper()
	var found bool
	editBolt(t, dir, func(tx *bbolt.Tx) error {
		found = tx.Bucket([]byte("store-meta")) != nil
		return nil
	})
	return found
}

// TestLegacyStoreIsAdoptedOnlyWithItsKeyring starts kmsd on data written
// before stores recorded their root keyring. With the keyring that sealed
// it, the store is adopted and its key works; with another data
// directory's keyring, or none, kmsd refuses and leaves the store as it was.
func TestLegacyStoreIsAdoptedOnlyWithItsKeyring(t *testing.T) {
	ctx := context.Background()

	dir, keyID, blob := legacyDataDir(t)
	keyPath := filepath.Join(dir, "root.key")
	foreign := filepath.Join(t.TempDir(), "root.key")
	if _, err := seal.Create(foreign); err != nil {
		t.Fatal(err)
	}
	own, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	foreignKey, err := os.ReadFile(foreign)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, foreignKey, 0o600); err != nil {
		t.Fatal(err)
	}
	out := startRefused(t, "dev", "--data", dir)
	for _, want := range []string{keyPath + " is not the one that sealed this store", "written by an earlier kmsd", "found root key 1 with fingerprint " + rootFingerprints(t, foreign)[0]} {
		if !strings.Contains(out, want) {
			t.Errorf("legacy store, foreign root.key: output lacks %q:\n%s", want, out)
		}
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if out := startRefused(t, "dev", "--data", dir); !strings.Contains(out, keyPath+" is missing") {
		t.Errorf("legacy store, root.key deleted: output lacks that it is missing:\n%s", out)
	}
	if hasCheckRecord(t, dir) {
		t.Fatal("a refused start adopted the store")
	}

	if err := os.WriteFile(keyPath, own, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startKMSD(t, "dev", "--data", dir)
	c := p.client(docKey, "any-secret-will-do")
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "from an earlier kmsd" || *dec.KeyId == "" || !strings.HasSuffix(*dec.KeyId, keyID) {
		t.Fatalf("ciphertext of the adopted store: %v", err)
	}
	p.stop()
	if !strings.Contains(p.stderr.String(), "store adopted") || !hasCheckRecord(t, dir) {
		t.Fatalf("the store was not adopted:\n%s", p.stderr)
	}
	// Adopted, it now refuses a foreign keyring by its fingerprint.
	if err := os.WriteFile(keyPath, foreignKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := startRefused(t, "dev", "--data", dir); !strings.Contains(out, "expected root key 1 with fingerprint "+fingerprintsOf(t, own)[0]) {
		t.Errorf("adopted store, foreign root.key:\n%s", out)
	}
}

// TestProbeSealed checks the probe that proves a legacy store's keyring
// against what kms and identity actually seal: key material, and the secret
// of an access key when a store (kmsd serve's) holds no key.
func TestProbeSealed(t *testing.T) {
	ctx := context.Background()
	keysDir, _, _ := legacyDataDir(t)
	accessKeyDir, identitiesDir := t.TempDir(), t.TempDir()
	for _, dir := range []string{accessKeyDir, identitiesDir} {
		st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
		if err != nil {
			t.Fatal(err)
		}
		sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
		if err != nil {
			t.Fatal(err)
		}
		ids := identity.New(identity.Config{Store: st, Sealer: sl})
		if err := ids.Init(ctx, "111122223333"); err != nil {
			t.Fatal(err)
		}
		if dir == accessKeyDir {
			if _, _, err := ids.CreateAccessKey(ctx, "111122223333", ""); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
	}
	foreign, err := seal.Create(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		dir       string
		wantFound bool
	}{
		{"key material", keysDir, true},
		{"access key secret", accessKeyDir, true},
		{"nothing sealed", identitiesDir, false},
	} {
		own, err := seal.Open(filepath.Join(tc.dir, "root.key"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := bolt.Open(filepath.Join(tc.dir, "kmsd.db"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ring := range []*seal.FileSeal{own, foreign} {
			var found, unsealed bool
			err := st.View(ctx, func(tx store.Tx) (err error) {
				found, unsealed, err = probeSealed(ring)(tx)
				return err
			})
			if err != nil || found != tc.wantFound || unsealed != (tc.wantFound && ring == own) {
				t.Errorf("%s, own keyring %v: found %v, unsealed %v, err %v", tc.name, ring == own, found, unsealed, err)
			}
		}
		st.Close()
	}
}
