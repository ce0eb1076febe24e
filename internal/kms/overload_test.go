package kms

import (
	"context"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// TestAbandonedRequestStopsWaitingForThePool: while every slot of the pool
// of expensive work is taken, an RSA CreateKey, GenerateDataKeyPair or
// GetParametersForImport (an RSA wrapping key) whose
// context ends (client gone, deadline passed) returns at once with
// DependencyTimeoutException and creates nothing; once a slot frees, the
// same request goes through.
func TestAbandonedRequestStopsWaitingForThePool(t *testing.T) {
	h := newHarness(t)
	wrapping := h.createKey()
	external, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(h.svc.pool) {
		h.svc.pool <- struct{}{}
	}
	rsaKey := &kmsapi.CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY"}
	pair := &kmsapi.GenerateDataKeyPairInput{KeyId: wrapping, KeyPairSpec: "RSA_2048"}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.svc.CreateKey(cancelled, call(), rsaKey); kmserr.CodeOf(err) != kmserr.DependencyTimeout {
		t.Fatalf("CreateKey with a cancelled context: %v, want DependencyTimeoutException", err)
	}
	for name, run := range map[string]func(context.Context) error{
		"CreateKey": func(ctx context.Context) error {
			_, err := h.svc.CreateKey(ctx, call(), rsaKey)
			return err
		},
		"GenerateDataKeyPair": func(ctx context.Context) error {
			_, err := h.svc.GenerateDataKeyPair(ctx, call(), pair)
			return err
		},
		"GetParametersForImport": func(ctx context.Context) error {
			_, err := h.svc.GetParametersForImport(ctx, call(), &kmsapi.GetParametersForImportInput{
				KeyId: external.KeyMetadata.KeyId, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_4096"})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := run(ctx)
		cancel()
		if kmserr.CodeOf(err) != kmserr.DependencyTimeout {
			t.Fatalf("%s past its deadline: %v, want DependencyTimeoutException", name, err)
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("%s returned %v after its 100 ms deadline", name, waited)
		}
	}
	out, err := h.svc.ListKeys(context.Background(), call(), &kmsapi.ListKeysInput{})
	if err != nil || len(out.Keys) != 2 {
		t.Fatalf("ListKeys: %v, %d keys; an abandoned CreateKey created one", err, len(out.Keys))
	}

	// A cheap key needs no slot; a freed slot lets an RSA key through.
	if _, err := h.svc.CreateKey(context.Background(), call(), &kmsapi.CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY"}); err != nil {
		t.Fatalf("ECC CreateKey while the pool is full: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.svc.CreateKey(context.Background(), call(), rsaKey)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("RSA CreateKey ran while every slot was taken: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	<-h.svc.pool
	if err := <-done; err != nil {
		t.Fatalf("RSA CreateKey once a slot freed: %v", err)
	}
}
