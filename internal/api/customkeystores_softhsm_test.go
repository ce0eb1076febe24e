package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kms/ckshsm"
)

// TestCloudHSMKeyStoreOnSoftHSM runs an AWS_CLOUDHSM key store on a real
// PKCS#11 token (SoftHSM2): keys are generated in the token under their key
// id, used there, and a wrong PIN, a missing token or a deleted key object
// give AWS's answers.
func TestCloudHSMKeyStoreOnSoftHSM(t *testing.T) {
	module, label, pin := softhsmtest.NewToken(t, "kmsd-cks")
	s := newServer(t)
	const missing = "cluster-234567missing"
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{HSM: ckshsm.Clusters{
		testCluster: {ID: testCluster, Owner: testAccount, Module: module, Token: label, Anchor: testAnchor},
		missing:     {ID: missing, Owner: testAccount, Module: module, Token: "no-such-token"},
	}})
	t.Cleanup(s.Service.CloseKeyStores)
	check, err := hsm.Open(module, label, pin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = check.Close() })
	inToken := func(keyID string) bool {
		t.Helper()
		ok, err := check.HasKey(keyID)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	out, err := s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("SoftHSM"), CloudHsmClusterId: aws.String(testCluster),
		TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String("not-the-pin"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.CustomKeyStoreId
	if e := connectStore(t, s, id, types.ConnectionStateTypeFailed); e.ConnectionErrorCode != types.ConnectionErrorCodeTypeInvalidCredentials {
		t.Fatalf("wrong PIN: ConnectionErrorCode %q", e.ConnectionErrorCode)
	}
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(pin)}); err != nil {
		t.Fatal(err)
	}
	connectStore(t, s, id, types.ConnectionStateTypeConnected)

	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
	if err != nil {
		t.Fatal(err)
	}
	keyID := *ck.KeyMetadata.KeyId
	if !inToken(keyID) {
		t.Fatal("no key object labelled with the key id in the token")
	}
	ec := map[string]string{"app": "softhsm"}
	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("in the token"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "in the token" {
		t.Fatalf("Decrypt: %v", err)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")
	if _, err := s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes128}); err != nil {
		t.Fatal(err)
	}

	// The key object deleted behind kmsd's back.
	other, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
	if err != nil {
		t.Fatal(err)
	}
	if err := check.DeleteKey(*other.KeyMetadata.KeyId); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: other.KeyMetadata.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")

	// Scheduled deletion removes the object from the token.
	if _, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Add(8 * 24 * time.Hour)
	if _, err := s.Service.DeleteDueKeys(bg); err != nil {
		t.Fatal(err)
	}
	if inToken(keyID) {
		t.Fatal("the deleted key's object is still in the token")
	}

	// A configured token that is not there: CLUSTER_NOT_FOUND.
	out, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("Gone"), CloudHsmClusterId: aws.String(missing),
		TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(pin),
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := connectStore(t, s, *out.CustomKeyStoreId, types.ConnectionStateTypeFailed); e.ConnectionErrorCode != types.ConnectionErrorCodeTypeClusterNotFound {
		t.Fatalf("missing token: ConnectionErrorCode %q", e.ConnectionErrorCode)
	}
}
