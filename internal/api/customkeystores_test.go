package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
)

// TestDescribeCustomKeyStoresWithoutStores: an account without custom key
// stores lists an empty page (so SDK paginators end), and a filter on a
// store that does not exist answers CustomKeyStoreNotFoundException.
func TestDescribeCustomKeyStoresWithoutStores(t *testing.T) {
	s := newServer(t)
	out, err := s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	if out.CustomKeyStores == nil || len(out.CustomKeyStores) != 0 || out.Truncated || out.NextMarker != nil {
		t.Fatalf("DescribeCustomKeyStores = %+v, want an empty, complete page", out)
	}
	r := s.post("TrentService.DescribeCustomKeyStores", []byte(`{}`))
	if r.Status != 200 || string(r.Body) != `{"CustomKeyStores":[],"Truncated":false}` {
		t.Fatalf("wire answer %d %s", r.Status, r.Body)
	}

	pages := 0
	for p := kms.NewDescribeCustomKeyStoresPaginator(s.Client, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		if pages++; pages > 1 || len(page.CustomKeyStores) != 0 {
			t.Fatalf("page %d: %+v", pages, page)
		}
	}

	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantError(t, err, "CustomKeyStoreNotFoundException", "Custom key store cks-1234567890abcdef0 does not exist.")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("ExampleKeyStore")})
	wantError(t, err, "CustomKeyStoreNotFoundException", "Custom key store with name ExampleKeyStore does not exist.")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0"), CustomKeyStoreName: aws.String("ExampleKeyStore")})
	wantCode(t, err, "ValidationException")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{Marker: aws.String("bm90LWEtbWFya2Vy")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(0)})
	wantCode(t, err, "ValidationException")

	// Every call is audited, as a read-only call with its parameters.
	var found, notFound int
	for _, rec := range s.readAudit() {
		if rec["eventName"] != "DescribeCustomKeyStores" {
			continue
		}
		if rec["readOnly"] != true {
			t.Errorf("record %v is not read-only", rec)
		}
		switch rec["errorCode"] {
		case nil:
			found++
		case "CustomKeyStoreNotFoundException":
			notFound++
			params, _ := rec["requestParameters"].(map[string]any)
			if params["customKeyStoreId"] == nil && params["customKeyStoreName"] == nil {
				t.Errorf("record %v lacks the filter", rec)
			}
		}
	}
	if found < 3 || notFound != 2 {
		t.Fatalf("audit holds %d successful and %d not-found DescribeCustomKeyStores records, want ≥3 and 2", found, notFound)
	}
}

// TestDescribeCustomKeyStoresAuthorization: the operation is authorized by
// identity policies only, like ListKeys.
func TestDescribeCustomKeyStoresAuthorization(t *testing.T) {
	e := startEnforcing(t)
	_, err := e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	if msg := wantCode(t, err, "AccessDeniedException"); !strings.Contains(msg, "kms:DescribeCustomKeyStores") {
		t.Fatalf("AccessDenied message %q does not name the action", msg)
	}
	e.setIdentityPolicy(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]}`)
	if _, err := e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{}); err != nil {
		t.Fatalf("allowed by an identity policy: %v", err)
	}
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantCode(t, err, "CustomKeyStoreNotFoundException")
	e.setIdentityPolicy(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:DescribeCustomKeyStores","Resource":"*"}]}`)
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{})
	wantCode(t, err, "AccessDeniedException")
	// A denied caller learns nothing about which stores exist.
	_, err = e.alice.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantCode(t, err, "AccessDeniedException")
}

// TestDescribeCustomKeyStoresWithTheCLI: the AWS CLI pages through
// describe-custom-key-stores with botocore's paginator, as boto3 does.
func TestDescribeCustomKeyStoresWithTheCLI(t *testing.T) {
	s := newServer(t)
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the AWS CLI is not installed (scripts/ensure-tools.sh installs it)")
	}
	cli := exec.Command("aws", "--endpoint-url", s.URL, "kms", "describe-custom-key-stores", "--page-size", "1", "--output", "json")
	cli.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+testAccessKey, "AWS_SECRET_ACCESS_KEY="+testSecretKey, "AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION="+testRegion, "AWS_MAX_ATTEMPTS=1")
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("aws kms describe-custom-key-stores: %v\n%s", err, out)
	}
	if got := strings.Join(strings.Fields(string(out)), ""); got != `{"CustomKeyStores":[]}` {
		t.Fatalf("aws kms describe-custom-key-stores printed %s", out)
	}
}

const (
	testCluster = "cluster-234567abcde"
	testAnchor  = "-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n"
	testPIN     = "kmsuser-Passw0rd"
)

// waitStore polls DescribeCustomKeyStores until the store leaves
// CONNECTING, as a client of AWS's asynchronous Connect does.
func waitStore(t *testing.T, s *testServer, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		e := out.CustomKeyStores[0]
		if e.ConnectionState != types.ConnectionStateTypeConnecting || time.Now().After(deadline) {
			return e
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connectStore(t *testing.T, s *testServer, id string, want types.ConnectionStateType) types.CustomKeyStoresListEntry {
	t.Helper()
	if _, err := s.Client.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("ConnectCustomKeyStore: %v", err)
	}
	e := waitStore(t, s, id)
	if e.ConnectionState != want {
		t.Fatalf("store %s is %s (%s), want %s", id, e.ConnectionState, e.ConnectionErrorCode, want)
	}
	return e
}

func createHSMStore(t *testing.T, s *testServer, name, cluster string) string {
	t.Helper()
	out, err := s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cluster),
		TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN),
	})
	if err != nil {
		t.Fatalf("CreateCustomKeyStore: %v", err)
	}
	return *out.CustomKeyStoreId
}

// TestCloudHSMKeyStoreLifecycle walks an AWS_CLOUDHSM store through AWS's
// state machine with keys made and used in its token.
func TestCloudHSMKeyStoreLifecycle(t *testing.T) {
	s := newServer(t)
	token := newFakeCluster(testPIN, testAnchor)
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{HSM: fakeClusters{testCluster: token, "cluster-234567abcdf": newFakeCluster(testPIN, "")}})

	_, err := s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("a"), CloudHsmClusterId: aws.String("cluster-777777aaaaa"), TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN)})
	wantCode(t, err, "CloudHsmClusterNotFoundException")
	_, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("a"), CloudHsmClusterId: aws.String(testCluster), TrustAnchorCertificate: aws.String("-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----"), KeyStorePassword: aws.String(testPIN)})
	wantCode(t, err, "IncorrectTrustAnchorException")
	_, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("a"), CloudHsmClusterId: aws.String(testCluster), TrustAnchorCertificate: aws.String(testAnchor)})
	wantCode(t, err, "ValidationException")

	id := createHSMStore(t, s, "ExampleKeyStore", testCluster)
	if !regexp.MustCompile(`^cks-[0-9a-f]{17}$`).MatchString(id) {
		t.Fatalf("store id %q is not of AWS's form", id)
	}
	_, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("ExampleKeyStore"), CloudHsmClusterId: aws.String("cluster-234567abcdf"), TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN)})
	wantCode(t, err, "CustomKeyStoreNameInUseException")
	_, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("Other"), CloudHsmClusterId: aws.String(testCluster), TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN)})
	wantCode(t, err, "CloudHsmClusterInUseException")

	e := waitStore(t, s, id)
	if e.ConnectionState != types.ConnectionStateTypeDisconnected || e.CustomKeyStoreType != types.CustomKeyStoreTypeAwsCloudhsm ||
		*e.CloudHsmClusterId != testCluster || *e.TrustAnchorCertificate != testAnchor || *e.CustomKeyStoreName != "ExampleKeyStore" || e.CreationDate == nil {
		t.Fatalf("new store %+v", e)
	}
	create := func() (*kms.CreateKeyOutput, error) {
		return s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
	}
	_, err = create()
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	connectStore(t, s, id, types.ConnectionStateTypeConnected)
	_, err = s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "ValidationException") // Origin must be AWS_CLOUDHSM
	_, err = s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm, KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	wantCode(t, err, "UnsupportedOperationException")
	ck, err := create()
	if err != nil {
		t.Fatal(err)
	}
	keyID := *ck.KeyMetadata.KeyId
	if !token.has(keyID) {
		t.Fatal("the key was not generated in the token under its key id")
	}
	md := s.describe(keyID)
	if md.Origin != types.OriginTypeAwsCloudhsm || *md.CustomKeyStoreId != id || *md.CloudHsmClusterId != testCluster || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("DescribeKey = %+v", md)
	}

	// Cryptography in the token; Decrypt finds the key from the blob alone.
	ec := map[string]string{"purpose": "test"}
	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello hsm"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "hello hsm" || *dec.KeyId != *md.Arn {
		t.Fatalf("Decrypt = %+v, %v", dec, err)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
	wantCode(t, err, "InvalidCiphertextException")
	dk, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	re, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: aws.String(keyID)})
	if err != nil {
		t.Fatal(err)
	}
	dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatalf("data key after ReEncrypt: %v", err)
	}
	_, err = s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: aws.String(keyID), KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	wantCode(t, err, "UnsupportedOperationException")
	if _, err := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16), CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("GenerateRandom in a connected store: %v", err)
	}

	// Every property of an AWS_CLOUDHSM store, its name included, changes
	// only while it is disconnected.
	_, err = s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("wrong-pin-1")})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("Renamed")})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	_, err = s.Client.DeleteCustomKeyStore(bg, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	// Disconnected: keys are Unavailable and unusable, still manageable.
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if md := s.describe(keyID); md.KeyState != types.KeyStateUnavailable || md.Enabled {
		t.Fatalf("key in a disconnected store: %s enabled=%v", md.KeyState, md.Enabled)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(32)})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16), CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	if _, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("DisableKey in a disconnected store: %v", err)
	}
	// Unavailable over Disabled, as DescribeKey says.
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "KMSInvalidStateException")
	if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		t.Fatalf("EnableKey in a disconnected store: %v", err)
	}

	// A wrong PIN fails the connection with INVALID_CREDENTIALS; a FAILED
	// store must be disconnected before it connects again.
	if _, err := s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("wrong-pin-1"), NewCustomKeyStoreName: aws.String("Renamed")}); err != nil {
		t.Fatal(err)
	}
	if e := connectStore(t, s, id, types.ConnectionStateTypeFailed); e.ConnectionErrorCode != types.ConnectionErrorCodeTypeInvalidCredentials {
		t.Fatalf("ConnectionErrorCode %q, want INVALID_CREDENTIALS", e.ConnectionErrorCode)
	}
	_, err = s.Client.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(testPIN)}); err != nil {
		t.Fatal(err)
	}
	if e := connectStore(t, s, id, types.ConnectionStateTypeConnected); *e.CustomKeyStoreName != "Renamed" || e.ConnectionErrorCode != "" {
		t.Fatalf("reconnected store %+v", e)
	}
	if dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "hello hsm" {
		t.Fatalf("Decrypt after reconnecting: %v", err)
	}

	// A key object deleted from the token: KMSInvalidStateException, not a 500.
	other, err := create()
	if err != nil {
		t.Fatal(err)
	}
	_ = fakeToken{token}.DeleteKey(*other.KeyMetadata.KeyId)
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: other.KeyMetadata.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException")

	// A store with keys cannot be deleted; a deleted key's object leaves the token.
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.DeleteCustomKeyStore(bg, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreHasCMKsException")
	connectStore(t, s, id, types.ConnectionStateTypeConnected)
	for _, k := range []string{keyID, *other.KeyMetadata.KeyId} {
		if _, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	if md := s.describe(keyID); md.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("scheduled key is %s", md.KeyState)
	}
	s.Clock.Add(8 * 24 * time.Hour)
	if _, err := s.Service.DeleteDueKeys(bg); err != nil {
		t.Fatal(err)
	}
	if token.has(keyID) {
		t.Fatal("the deleted key's object is still in the token")
	}
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.DeleteCustomKeyStore(bg, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteCustomKeyStore: %v", err)
	}
	_, err = s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "CustomKeyStoreNotFoundException")

	// The PIN appears in no audit record.
	s.Stop()
	if raw, err := os.ReadFile(s.AuditPath); err != nil || bytes.Contains(raw, []byte(testPIN)) || bytes.Contains(raw, []byte("wrong-pin-1")) {
		t.Fatalf("the audit log holds a KeyStorePassword (read error %v)", err)
	}
}
