package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/seal"
)

// sealedFixture is what a test writes before rotating: ciphertexts under
// several keys, and a grant whose token key is sealed too.
type sealedFixture struct {
	ciphertexts map[string][]byte // plaintext → ciphertext
	grantToken  string            // of a grant on the first key
}

func writeSealedFixture(t *testing.T, c *kms.Client, keys int) sealedFixture {
	t.Helper()
	ctx := context.Background()
	f := sealedFixture{ciphertexts: map[string][]byte{}}
	for i := range keys {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		pt := fmt.Sprintf("plaintext under key %d", i)
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte(pt)})
		if err != nil {
			t.Fatal(err)
		}
		f.ciphertexts[pt] = enc.CiphertextBlob
		if i == 0 {
			g, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: k.KeyMetadata.KeyId,
				GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
			if err != nil {
				t.Fatal(err)
			}
			f.grantToken = aws.ToString(g.GrantToken)
		}
	}
	return f
}

func (f sealedFixture) assertDecrypts(t *testing.T, c *kms.Client) {
	t.Helper()
	for pt, ct := range f.ciphertexts {
		out, err := c.Decrypt(context.Background(), &kms.DecryptInput{CiphertextBlob: ct})
		if err != nil || string(out.Plaintext) != pt {
			t.Fatalf("Decrypt of %q: %v", pt, err)
		}
	}
}

func rootKeyIDs(t *testing.T, dir string) []uint32 {
	t.Helper()
	ring, err := seal.Open(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	return ring.KeyIDs()
}

// TestRotateRootCrashAndResume kills rotate-root (SIGKILL) after a few
// records: the store still serves every key; a second run resumes the same
// rotation, and once the old root key is retired, every ciphertext made
// before still decrypts.
func TestRotateRootCrashAndResume(t *testing.T) {
	dir := t.TempDir()
	p := startKMSD(t, "dev", "--data", dir)
	fx := writeSealedFixture(t, p.client(docKey, docSecret), 6)
	p.stop()
	if out, err := runKMSDEnv(t, nil, "admin", "create-access-key", "--data", dir); err != nil {
		t.Fatalf("create-access-key: %v\n%s", err, out)
	}

	out, err := runKMSDEnv(t, []string{"KMSD_TEST_ROTATE_ROOT_CRASH_AFTER=3"}, "admin", "rotate-root", "--data", dir, "--batch", "1")
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("rotate-root with a crash after 3 records: %v\n%s", err, out)
	}
	if ids := rootKeyIDs(t, dir); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("root keys after the crash: %v, want the old and the new", ids)
	}
	// Mid-way, the store opens and every key works.
	p = startKMSD(t, "dev", "--data", dir)
	fx.assertDecrypts(t, p.client(docKey, docSecret))
	p.stop()

	out, err = runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--batch", "2")
	if err != nil || !strings.Contains(out, "Resuming the rotation") || !strings.Contains(out, "every record is now sealed under it") {
		t.Fatalf("resumed rotate-root: %v\n%s", err, out)
	}
	if ids := rootKeyIDs(t, dir); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("root keys after resuming: %v, want no third key", ids)
	}
	out, err = runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--retire-only")
	if err != nil || !strings.Contains(out, "Retired root key 1") {
		t.Fatalf("rotate-root --retire-only: %v\n%s", err, out)
	}
	if ids := rootKeyIDs(t, dir); !slices.Equal(ids, []uint32{2}) {
		t.Fatalf("root keys after retiring: %v, want [2]", ids)
	}
	if out, err := runKMSDEnv(t, nil, "admin", "check", "--data", dir); err != nil {
		t.Fatalf("admin check after retiring: %v\n%s", err, out)
	}
	p = startKMSD(t, "dev", "--data", dir)
	fx.assertDecrypts(t, p.client(docKey, docSecret))
}

// TestRotateRootOnline rotates a running server's root keyring through its
// admin socket, while it keeps serving, then retires the old key.
func TestRotateRootOnline(t *testing.T) {
	dir := t.TempDir()
	p := startKMSD(t, "dev", "--data", dir)
	c := p.client(docKey, docSecret)
	fx := writeSealedFixture(t, c, 4)
	fx.assertDecrypts(t, c) // the server caches the keys and their grants as they are now

	out, err := runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--batch", "3")
	if err != nil || !strings.Contains(out, "The running kmsd rotated") || !strings.Contains(out, "Root key 2") {
		t.Fatalf("online rotate-root: %v\n%s", err, out)
	}
	fx.assertDecrypts(t, c)
	more := writeSealedFixture(t, c, 2) // sealed under the new key at once
	out, err = runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--retire-only")
	if err != nil || !strings.Contains(out, "Retired root key 1") {
		t.Fatalf("online rotate-root --retire-only: %v\n%s", err, out)
	}
	fx.assertDecrypts(t, c)
	// The grant's token key is checked with the re-sealed grant, not a
	// snapshot cached before the rotation.
	if _, err := c.RetireGrant(context.Background(), &kms.RetireGrantInput{GrantToken: aws.String(fx.grantToken)}); err != nil {
		t.Fatalf("RetireGrant with a token after retiring the old root key: %v", err)
	}
	p.stop()
	if ids := rootKeyIDs(t, dir); !slices.Equal(ids, []uint32{2}) {
		t.Fatalf("root keys after retiring: %v, want [2]", ids)
	}
	p = startKMSD(t, "dev", "--data", dir)
	fx.assertDecrypts(t, p.client(docKey, docSecret))
	more.assertDecrypts(t, p.client(docKey, docSecret))
}

// TestRotateRootOnlineServerKilled kills the server (SIGKILL) in the middle
// of an online rotation: it restarts on the half-rotated store, serves
// every key, and the rotation run again through it completes.
func TestRotateRootOnlineServerKilled(t *testing.T) {
	dir := t.TempDir()
	crash := []string{"KMSD_TEST_ROTATE_ROOT_CRASH_AFTER=2"}
	p := startKMSDEnv(t, crash, "dev", "--data", dir)
	fx := writeSealedFixture(t, p.client(docKey, docSecret), 4)
	if out, err := runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--batch", "1"); err == nil {
		t.Fatalf("online rotate-root with the server killed mid-way succeeded:\n%s", out)
	}
	_ = p.cmd.Wait()
	p = startKMSD(t, "dev", "--data", dir)
	c := p.client(docKey, docSecret)
	fx.assertDecrypts(t, c)
	out, err := runKMSDEnv(t, nil, "admin", "rotate-root", "--data", dir, "--retire")
	if err != nil || !strings.Contains(out, "Resuming the rotation") || !strings.Contains(out, "Retired root key 1") {
		t.Fatalf("resumed online rotate-root: %v\n%s", err, out)
	}
	fx.assertDecrypts(t, c)
	p.stop()
	p = startKMSD(t, "dev", "--data", dir)
	fx.assertDecrypts(t, p.client(docKey, docSecret))
}
