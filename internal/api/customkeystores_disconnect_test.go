package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
)

// TestNoEncryptAfterDisconnectReturns races DisconnectCustomKeyStore with
// an Encrypt that is opening the store's token (the first use after a
// restart): once Disconnect has returned, neither that Encrypt nor any
// later one may use the key, though the token login finishes afterwards.
func TestNoEncryptAfterDisconnectReturns(t *testing.T) {
	dir := t.TempDir()
	token := newFakeCluster(testPIN, "")
	backends := kmscore.KeyStoreBackends{HSM: fakeClusters{testCluster: token}}
	s := startServer(t, serverOptions{dir: dir})
	s.Service.SetKeyStoreBackends(backends)
	id := createHSMStore(t, s, "hsm", testCluster)
	connectStore(t, s, id, types.ConnectionStateTypeConnected)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	s.Service.CloseKeyStores()
	s.Stop()

	// A new process: the store is CONNECTED, its token not logged in to yet.
	token.gate = make(chan struct{})
	s2 := startServer(t, serverOptions{dir: dir})
	s2.Service.SetKeyStoreBackends(backends)
	t.Cleanup(s2.Service.CloseKeyStores)
	logins := token.logins.Load()
	inflight := make(chan error, 1)
	go func() {
		_, err := s2.Client.Encrypt(bg, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
		inflight <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); token.logins.Load() == logins; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Encrypt did not log in to the token")
		}
	}
	if _, err := s2.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	close(token.gate) // the login finishes after Disconnect returned
	wantCode(t, <-inflight, "KMSInvalidStateException")
	for range 3 {
		_, err := s2.Client.Encrypt(bg, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
		wantCode(t, err, "KMSInvalidStateException")
	}
	if md := s2.describe(*keyID); md.KeyState != types.KeyStateUnavailable {
		t.Fatalf("key of a disconnected store is %s", md.KeyState)
	}
}
