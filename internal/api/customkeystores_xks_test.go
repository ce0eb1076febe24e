package api_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
)

const (
	testXksEndpoint = "https://xks.example.com"
	testXksPath     = "/example/kms/xks/v1"
	testXksAKID     = "ABCDEFGHIJKLMNOPQRST2345"
	testXksSecret   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
)

func xksStoreInput(name, path, secret string) *kms.CreateCustomKeyStoreInput {
	return &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
		XksProxyUriEndpoint: aws.String(testXksEndpoint), XksProxyUriPath: aws.String(path),
		XksProxyConnectivity:             types.XksProxyConnectivityTypePublicEndpoint,
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(testXksAKID), RawSecretAccessKey: aws.String(secret)},
	}
}

// TestExternalKeyStore: an EXTERNAL_KEY_STORE is tested at creation,
// connects with a health check, binds keys to external keys checked through
// the proxy, double-encrypts, and answers AWS's exceptions for proxy failures.
func TestExternalKeyStore(t *testing.T) {
	s := newServer(t)
	proxy := newFakeProxy(testXksEndpoint+testXksPath, testXksAKID, testXksSecret)
	proxy.addKey("ext-1", "AES_256", true)
	proxy.addKey("ext-off", "AES_256", false)
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{XKS: proxy})

	_, err := s.Client.CreateCustomKeyStore(bg, xksStoreInput("x", testXksPath, strings.Repeat("w", 43)))
	wantCode(t, err, "XksProxyIncorrectAuthenticationCredentialException")
	_, err = s.Client.CreateCustomKeyStore(bg, xksStoreInput("x", "/other/kms/xks/v1", testXksSecret))
	wantCode(t, err, "XksProxyUriUnreachableException")
	vpc := xksStoreInput("x", testXksPath, testXksSecret)
	vpc.XksProxyConnectivity = types.XksProxyConnectivityTypeVpcEndpointService
	_, err = s.Client.CreateCustomKeyStore(bg, vpc)
	wantCode(t, err, "ValidationException")
	vpc.XksProxyVpcEndpointServiceName = aws.String("com.amazonaws.vpce.us-east-1.vpce-svc-example")
	_, err = s.Client.CreateCustomKeyStore(bg, vpc)
	wantCode(t, err, "XksProxyVpcEndpointServiceNotFoundException")
	http := xksStoreInput("x", testXksPath, testXksSecret)
	http.XksProxyUriEndpoint = aws.String("http://xks.example.com")
	_, err = s.Client.CreateCustomKeyStore(bg, http)
	wantCode(t, err, "ValidationException")

	out, err := s.Client.CreateCustomKeyStore(bg, xksStoreInput("ExampleXKS", testXksPath, testXksSecret))
	if err != nil {
		t.Fatal(err)
	}
	id := *out.CustomKeyStoreId
	_, err = s.Client.CreateCustomKeyStore(bg, xksStoreInput("Another", testXksPath, testXksSecret))
	wantCode(t, err, "XksProxyUriInUseException")
	e := waitStore(t, s, id)
	if c := e.XksProxyConfiguration; c == nil || *c.UriEndpoint != testXksEndpoint || *c.UriPath != testXksPath || *c.AccessKeyId != testXksAKID ||
		c.Connectivity != types.XksProxyConnectivityTypePublicEndpoint || e.CustomKeyStoreType != types.CustomKeyStoreTypeExternalKeyStore {
		t.Fatalf("DescribeCustomKeyStores = %+v", e)
	}
	connectStore(t, s, id, types.ConnectionStateTypeConnected)

	create := func(xksKeyID string) (*kms.CreateKeyOutput, error) {
		return s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeExternalKeyStore, XksKeyId: aws.String(xksKeyID)})
	}
	_, err = create("missing")
	wantCode(t, err, "XksKeyNotFoundException")
	_, err = create("ext-off")
	wantCode(t, err, "XksKeyInvalidConfigurationException")
	ck, err := create("ext-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = create("ext-1")
	wantCode(t, err, "XksKeyAlreadyInUseException")
	keyID := *ck.KeyMetadata.KeyId
	md := s.describe(keyID)
	if md.Origin != types.OriginTypeExternalKeyStore || *md.CustomKeyStoreId != id || md.XksKeyConfiguration == nil || *md.XksKeyConfiguration.Id != "ext-1" {
		t.Fatalf("DescribeKey = %+v", md)
	}

	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("held outside")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "held outside" {
		t.Fatalf("Decrypt: %v", err)
	}
	// requestMetadata as AWS fills it.
	proxy.mu.Lock()
	last := proxy.requests[len(proxy.requests)-1]
	proxy.mu.Unlock()
	if last.KMSOperation != "Decrypt" || last.KMSKeyArn != *md.Arn || last.AWSPrincipalArn != "arn:aws:iam::"+testAccount+":root" || last.KMSRequestID == "" {
		t.Fatalf("requestMetadata %+v", last)
	}
	// Tampering is caught: by the proxy (outer layer) as AWS reports it.
	bad := bytes.Clone(enc.CiphertextBlob)
	bad[len(bad)-1] ^= 1
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bad})
	wantCode(t, err, "KMSInvalidStateException")

	// While CONNECTED an external key store takes a new credential (tested
	// first, then used), but not a new endpoint.
	proxy.mu.Lock()
	proxy.secret = strings.Repeat("r", 44)
	proxy.mu.Unlock()
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	wantCode(t, err, "KMSInvalidStateException") // the proxy stopped accepting the old secret
	if _, err := s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("Renamed"),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(testXksAKID), RawSecretAccessKey: aws.String(strings.Repeat("r", 44))}}); err != nil {
		t.Fatalf("new credential while CONNECTED: %v", err)
	}
	if _, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt with the new credential: %v", err)
	}
	_, err = s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), XksProxyUriEndpoint: aws.String("https://xks2.example.com")})
	wantCode(t, err, "CustomKeyStoreInvalidStateException")

	// The external key disabled in the external key manager.
	proxy.setEnabled("ext-1", false)
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	wantError(t, err, "KMSInvalidStateException", "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request.")
	proxy.setEnabled("ext-1", true)

	// Disconnected: Unavailable; a changed credential is tested before it is saved.
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if md := s.describe(keyID); md.KeyState != types.KeyStateUnavailable {
		t.Fatalf("key of a disconnected external key store is %s", md.KeyState)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantError(t, err, "KMSInvalidStateException", "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.")
	_, err = s.Client.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(testXksAKID), RawSecretAccessKey: aws.String(strings.Repeat("v", 43))}})
	wantCode(t, err, "XksProxyIncorrectAuthenticationCredentialException")
	connectStore(t, s, id, types.ConnectionStateTypeConnected)
	if _, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt after reconnecting: %v", err)
	}
	_, err = s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8), CustomKeyStoreId: aws.String(id)})
	wantCode(t, err, "UnsupportedOperationException")

	// A proxy that stops answering fails the next connection attempt.
	proxy.mu.Lock()
	proxy.uri = "https://moved.example.com" + testXksPath
	proxy.mu.Unlock()
	if _, err := s.Client.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if e := connectStore(t, s, id, types.ConnectionStateTypeFailed); e.ConnectionErrorCode != types.ConnectionErrorCodeTypeXksProxyNotReachable {
		t.Fatalf("ConnectionErrorCode %q, want XKS_PROXY_NOT_REACHABLE", e.ConnectionErrorCode)
	}

	s.Stop()
	if raw, err := os.ReadFile(s.AuditPath); err != nil || bytes.Contains(raw, []byte(testXksSecret)) {
		t.Fatalf("the audit log holds the proxy secret (read error %v)", err)
	}
}

// TestCloseKeyStoresEndsAttempts: shutting the service down ends a
// connection attempt at once and leaves its store CONNECTING, to be
// connected again after the restart, rather than recording a failure.
func TestCloseKeyStoresEndsAttempts(t *testing.T) {
	s := newServer(t)
	proxy := newFakeProxy(testXksEndpoint+testXksPath, testXksAKID, testXksSecret)
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{XKS: proxy})
	out, err := s.Client.CreateCustomKeyStore(bg, xksStoreInput("hanging", testXksPath, testXksSecret))
	if err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	proxy.hang = true
	proxy.mu.Unlock()
	if _, err := s.Client.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Service.CloseKeyStores()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("CloseKeyStores took %v", d)
	}
	d, err := s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: out.CustomKeyStoreId})
	if err != nil || d.CustomKeyStores[0].ConnectionState != types.ConnectionStateTypeConnecting {
		t.Fatalf("after CloseKeyStores: %+v, %v", d, err)
	}
}
