package kms

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// countingSealer counts Unseal calls and fails the next fail of them.
type countingSealer struct {
	Sealer
	unseals atomic.Int64
	fail    atomic.Int64
}

func (c *countingSealer) Unseal(sealed, aad []byte) (secret.Bytes, error) {
	c.unseals.Add(1)
	if c.fail.Add(-1) >= 0 {
		return nil, errors.New("sealer unavailable")
	}
	return c.Sealer.Unseal(sealed, aad)
}

func newCountingService(t *testing.T) (*Service, *countingSealer) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fs, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSealer{Sealer: fs}
	svc, err := New(Config{Store: st, Sealer: cs, Authorizer: AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, cs
}

func TestDescribeKeyLeavesMaterialSealed(t *testing.T) {
	svc, cs := newCountingService(t)
	ctx := context.Background()
	out, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	svc.FlushCache()
	cs.unseals.Store(0)
	for range 3 {
		if _, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.unseals.Load(); n != 0 {
		t.Fatalf("DescribeKey of a cold key unsealed %d times, want 0", n)
	}
	// The cached, still sealed key serves a use that needs the material.
	if _, err := svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n := cs.unseals.Load(); n != 1 {
		t.Fatalf("two Encrypts unsealed %d times, want 1", n)
	}
}

func TestConcurrentFirstUsesUnsealOnce(t *testing.T) {
	svc, cs := newCountingService(t)
	ctx := context.Background()
	for _, spec := range []kmsapi.KeySpec{kmsapi.KeySpecSymmetricDefault, kmsapi.KeySpecRSA2048} {
		usage := kmsapi.KeyUsageTypeEncryptDecrypt
		out, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		if err != nil {
			t.Fatal(err)
		}
		id := out.KeyMetadata.KeyId
		in := &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("secret")}
		if spec != kmsapi.KeySpecSymmetricDefault {
			in.EncryptionAlgorithm = kmsapi.EncryptionAlgorithmSpecRSAESOAEPSHA256
		}
		enc, err := svc.Encrypt(ctx, call(), in)
		if err != nil {
			t.Fatal(err)
		}
		svc.FlushCache()
		if _, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id}); err != nil {
			t.Fatal(err)
		}
		cs.unseals.Store(0)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dec, err := svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{KeyId: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: in.EncryptionAlgorithm})
				if err == nil && !bytes.Equal(dec.Plaintext, in.Plaintext) {
					err = errors.New("decrypted to other bytes")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", spec, err)
			}
		}
		if n := cs.unseals.Load(); n != 1 {
			t.Fatalf("%s: 16 concurrent first uses unsealed %d times, want 1", spec, n)
		}
	}
}

func TestFailedUnsealIsRetried(t *testing.T) {
	svc, cs := newCountingService(t)
	ctx := context.Background()
	out, err := svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	svc.FlushCache()
	if _, err := svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	cs.fail.Store(1)
	in := &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}
	if _, err := svc.Encrypt(ctx, call(), in); err == nil {
		t.Fatal("Encrypt succeeded with the sealer failing")
	}
	if _, err := svc.Encrypt(ctx, call(), in); err != nil {
		t.Fatalf("Encrypt after the sealer recovered: %v", err)
	}
}
