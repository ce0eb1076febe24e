package api_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// blobFields splits a CiphertextBlob of the documented version 1 format
// (internal/keys/blob.go): version, key id, KeyMaterialId, salt, nonce.
type blobFields struct {
	keyID, materialID string
	salt, nonce       []byte
}

func parseBlob(t *testing.T, b []byte) blobFields {
	t.Helper()
	if len(b) < 2 || b[0] != 1 || len(b) < 2+int(b[1])+32+16+12+16 {
		t.Fatalf("blob %x is not a version 1 blob", b)
	}
	n := int(b[1])
	return blobFields{
		keyID:      string(b[2 : 2+n]),
		materialID: hex.EncodeToString(b[2+n : 34+n]),
		salt:       b[34+n : 50+n],
		nonce:      b[50+n : 62+n],
	}
}

// wantInvalidCiphertext checks AWS's bare InvalidCiphertextException and
// that no plaintext came back.
func wantInvalidCiphertext(t *testing.T, what string, out *kms.DecryptOutput, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: decrypted to %q", what, out.Plaintext)
	}
	ae := apiError(t, err)
	if ae.ErrorCode() != "InvalidCiphertextException" || ae.ErrorMessage() != "" || barStatus(err) != 400 {
		t.Fatalf("%s: got %d %s %q, want 400 InvalidCiphertextException with no message", what, barStatus(err), ae.ErrorCode(), ae.ErrorMessage())
	}
}

// TestBarBlobTruncationAndExtensionOnTheWire completes check 13 on the
// wire (bit flips are TestTamperedCiphertext): a blob cut to every shorter
// length, or with 1 to 64 bytes appended, is InvalidCiphertextException.
func TestBarBlobTruncationAndExtensionOnTheWire(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("sweep").KeyId)
	ec := map[string]string{"purpose": "sweep"}
	blob := s.encrypt(id, []byte("truncate me, extend me"), ec).CiphertextBlob
	for n := 1; n < len(blob); n++ {
		out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bytes.Clone(blob[:n]), EncryptionContext: ec})
		wantInvalidCiphertext(t, fmt.Sprintf("cut to %d bytes", n), out, err)
	}
	for n := 1; n <= 64; n++ {
		long := append(bytes.Clone(blob), bytes.Repeat([]byte{byte(n)}, n)...)
		out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: long, EncryptionContext: ec})
		wantInvalidCiphertext(t, fmt.Sprintf("%d bytes appended", n), out, err)
	}
	if out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec}); err != nil || string(out.Plaintext) != "truncate me, extend me" {
		t.Fatalf("the untouched blob: %v", err)
	}
}

// TestBarDataKeyPairContextBinding completes check 14 for the
// GenerateDataKeyPair operations (Encrypt and GenerateDataKey* are
// TestEncryptionContext): the encrypted private key is bound to the
// encryption context exactly, up to the order of its pairs.
func TestBarDataKeyPairContextBinding(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("pairs").KeyId)
	ec := map[string]string{"Department": "Finance", "Project": "Q3"}
	pair, err := s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: aws.String(id), KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	noPT, err := s.Client.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: aws.String(id), KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	for name, blob := range map[string][]byte{"GenerateDataKeyPair": pair.PrivateKeyCiphertextBlob, "GenerateDataKeyPairWithoutPlaintext": noPT.PrivateKeyCiphertextBlob} {
		t.Run(name, func(t *testing.T) {
			for wrong, c := range map[string]map[string]string{
				"missing":     nil,
				"empty":       {},
				"extra pair":  {"Department": "Finance", "Project": "Q3", "Extra": "1"},
				"value case":  {"Department": "finance", "Project": "Q3"},
				"key case":    {"department": "Finance", "Project": "Q3"},
				"one missing": {"Department": "Finance"},
			} {
				out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: c})
				wantInvalidCiphertext(t, wrong, out, err)
			}
			out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"Project": "Q3", "Department": "Finance"}})
			if err != nil {
				t.Fatalf("reordered context: %v", err)
			}
			if name == "GenerateDataKeyPair" && !bytes.Equal(out.Plaintext, pair.PrivateKeyPlaintext) {
				t.Fatal("the decrypted private key is not the one returned in plaintext")
			}
		})
	}
	// An empty context is the same as none.
	bare, err := s.Client.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: aws.String(id), KeyPairSpec: types.DataKeyPairSpecEccNistP256, EncryptionContext: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bare.PrivateKeyCiphertextBlob}); err != nil {
		t.Fatalf("empty context made, none given: %v", err)
	}
}

// TestBarSameImportedMaterialInTwoKeys is check 15 with imported material:
// two keys holding the same 32 bytes cannot decrypt each other's
// ciphertexts, even with the blob's key id rewritten, because the key id
// and KeyMaterialId are authenticated; ReEncrypt from one to the other
// and back round-trips.
func TestBarSameImportedMaterialInTwoKeys(t *testing.T) {
	s := newServer(t)
	material := randomMaterial(t, 32)
	a := s.createExternal(types.KeySpecSymmetricDefault, "")
	b := s.createExternal(types.KeySpecSymmetricDefault, "")
	for _, k := range []*types.KeyMetadata{a, b} {
		if _, err := s.importWith(aws.ToString(k.KeyId), types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, material, nil); err != nil {
			t.Fatal(err)
		}
	}
	ec := map[string]string{"tenant": "a"}
	blob := s.encrypt(aws.ToString(a.KeyId), []byte("only A"), ec).CiphertextBlob
	f := parseBlob(t, blob)
	if f.keyID != aws.ToString(a.KeyId) {
		t.Fatalf("blob names key %q, want %q", f.keyID, aws.ToString(a.KeyId))
	}
	_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, KeyId: b.KeyId, EncryptionContext: ec})
	wantCode(t, err, "IncorrectKeyException")
	moved := bytes.Replace(blob, []byte(aws.ToString(a.KeyId)), []byte(aws.ToString(b.KeyId)), 1)
	out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: moved, EncryptionContext: ec})
	wantInvalidCiphertext(t, "blob moved to the key with the same material", out, err)
	out, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: moved, KeyId: b.KeyId, EncryptionContext: ec})
	wantInvalidCiphertext(t, "blob moved to the key with the same material, KeyId given", out, err)

	there, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec, DestinationKeyId: b.KeyId, DestinationEncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: there.CiphertextBlob, SourceKeyId: b.KeyId, SourceEncryptionContext: ec, DestinationKeyId: a.KeyId, DestinationEncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: back.CiphertextBlob, KeyId: a.KeyId, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "only A" || aws.ToString(dec.KeyId) != aws.ToString(a.Arn) {
		t.Fatalf("A to B and back: %v", err)
	}
}

// TestBarNoNonceReuse is check 16, scaled from 10^6 to 2×1500 Encrypts
// through the SDK, so it runs in seconds under -race (the keys package
// checks 10^5 encryptions without HTTP): the same plaintext and context
// under one key version never give the same blob, salt (so per-message
// key) or nonce, before or after a restart.
func TestBarNoNonceReuse(t *testing.T) {
	const perPhase, workers = 1500, 4
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	s := openDataNode(t, dir, clock)
	id := aws.ToString(s.createKey("nonces").KeyId)
	ec := map[string]string{"same": "context"}
	var (
		mu     sync.Mutex
		blobs  = map[string]bool{}
		salts  = map[string]bool{}
		nonces = map[string]bool{}
		mats   = map[string]bool{}
	)
	phase := func(s *testServer) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range perPhase / workers {
					out, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("the same plaintext"), EncryptionContext: ec})
					if err != nil {
						errs <- err
						return
					}
					b := out.CiphertextBlob
					n := int(b[1])
					mu.Lock()
					blobs[string(b)], salts[string(b[34+n:50+n])], nonces[string(b[50+n:62+n])], mats[string(b[2+n:34+n])] = true, true, true, true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Encrypt: %v", err)
		}
	}
	phase(s)
	s.Stop()
	s = openDataNode(t, dir, clock)
	phase(s)
	const total = 2 * perPhase
	if len(blobs) != total || len(salts) != total || len(nonces) != total {
		t.Fatalf("%d Encrypts gave %d distinct blobs, %d distinct salts, %d distinct nonces", total, len(blobs), len(salts), len(nonces))
	}
	if len(mats) != 1 {
		t.Fatalf("%d key material versions, want the one version of a key never rotated", len(mats))
	}
}

// TestBarTwentySixVersions is check 17: ciphertexts made under each of 26
// versions (the first and 25 on-demand rotations) all decrypt with their
// own version, each new encryption uses the newest version, and a 26th
// on-demand rotation is refused.
func TestBarTwentySixVersions(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("26 versions").KeyId)
	type version struct {
		material string
		blob     []byte
	}
	var versions []version
	for i := range 26 {
		if i > 0 {
			s.rotateOnDemand(id)
		}
		current := aws.ToString(s.describe(id).CurrentKeyMaterialId)
		blob := s.encrypt(id, fmt.Appendf(nil, "version %d", i), nil).CiphertextBlob
		if got := parseBlob(t, blob).materialID; got != current {
			t.Fatalf("after %d rotations Encrypt used material %s, the current one is %s", i, got, current)
		}
		versions = append(versions, version{current, blob})
	}
	seen := map[string]bool{}
	for i, v := range versions {
		if seen[v.material] {
			t.Fatalf("version %d repeats material %s", i, v.material)
		}
		seen[v.material] = true
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: v.blob})
		if err != nil || string(dec.Plaintext) != fmt.Sprintf("version %d", i) || aws.ToString(dec.KeyMaterialId) != v.material {
			t.Fatalf("version %d: %v (material %s, want %s)", i, err, aws.ToString(dec.KeyMaterialId), v.material)
		}
	}
	_, err := s.Client.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantCode(t, err, "LimitExceededException")
}
