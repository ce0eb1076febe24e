package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// startTLSProxyKMSD starts kmsd dev over TLS serving the XKS Proxy API
// under /ks1, and returns its base URL and a KMS client of it.
func startTLSProxyKMSD(t *testing.T, dir string, ca *testCA) (string, *kms.Client) {
	t.Helper()
	srv := ca.issue("127.0.0.1", true)
	writePEM(t, filepath.Join(dir, "proxy.pem"), "CERTIFICATE", srv.Certificate[0])
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	writePEM(t, filepath.Join(dir, "proxy-key.pem"), "PRIVATE KEY", keyDER)
	addr := freeAddr(t)
	cmd := exec.Command(kmsdBin, "dev", "--data", filepath.Join(dir, "proxy-data"), "--listen", addr,
		"--tls-cert", filepath.Join(dir, "proxy.pem"), "--tls-key", filepath.Join(dir, "proxy-key.pem"),
		"--xks-uri-prefix", "/ks1", "--xks-access-key-id", xksAKID, "--xks-secret-access-key", xksSecret)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	url := "https://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := hc.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy kmsd did not become healthy:\n%s", stderr)
		}
	}
	return url, kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), HTTPClient: sdkhttp.Wrap(hc), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(docAccessKey, docSecretKey, "")})
}

func wantAPIError(t *testing.T, err error, code, msgPart string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msgPart) {
		t.Fatalf("got %v, want %s containing %q", err, code, msgPart)
	}
}

// TestExternalKeyStoreThroughAnotherKMSD: one kmsd is the external key
// store proxy (XKS Proxy API over TLS), another creates an
// EXTERNAL_KEY_STORE pointing at it and encrypts through the AWS SDK;
// disabling the key on the proxy side, a missing key and wrong credentials
// give AWS's exceptions on the KMS side.
func TestExternalKeyStoreThroughAnotherKMSD(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca := newTestCA(t, "proxy CA")
	writePEM(t, filepath.Join(dir, "proxy-ca.pem"), "CERTIFICATE", ca.cert.Raw)
	proxyURL, proxyKMS := startTLSProxyKMSD(t, dir, ca)
	ext, err := proxyKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("external key")})
	if err != nil {
		t.Fatal(err)
	}
	extID := *ext.KeyMetadata.KeyId

	// AWS's XksProxyUriEndpoint has no port: the KMS side maps the name
	// it is given to the proxy's test address.
	p := startKMSD(t, "dev", "--data", filepath.Join(dir, "kms-data"), "--xks-proxy-ca", filepath.Join(dir, "proxy-ca.pem"),
		"--xks-proxy-connect-to", "https://xks.example.com="+proxyURL, "--xks-proxy-timeout", "10s")
	k := p.client(docAccessKey, docSecretKey)
	store := func(name, secret string) (*kms.CreateCustomKeyStoreOutput, error) {
		return k.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName: aws.String(name), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
			XksProxyUriEndpoint: aws.String("https://xks.example.com"), XksProxyUriPath: aws.String("/ks1/kms/xks/v1"),
			XksProxyConnectivity:             types.XksProxyConnectivityTypePublicEndpoint,
			XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: aws.String(xksAKID), RawSecretAccessKey: aws.String(secret)},
		})
	}
	_, err = store("wrong", xksSecret2)
	wantAPIError(t, err, "XksProxyIncorrectAuthenticationCredentialException", "could not authenticate AWS KMS")
	out, err := store("kmsd-proxy", xksSecret)
	if err != nil {
		t.Fatalf("CreateCustomKeyStore: %v\n%s", err, p.stderr)
	}
	id := out.CustomKeyStoreId
	if _, err := k.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := k.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		if err != nil {
			t.Fatal(err)
		}
		st := d.CustomKeyStores[0]
		if st.ConnectionState == types.ConnectionStateTypeConnected {
			break
		}
		if st.ConnectionState != types.ConnectionStateTypeConnecting || time.Now().After(deadline) {
			t.Fatalf("store is %s (%s)\n%s", st.ConnectionState, st.ConnectionErrorCode, p.stderr)
		}
	}

	create := func(xksKeyID string) (*kms.CreateKeyOutput, error) {
		return k.CreateKey(ctx, &kms.CreateKeyInput{CustomKeyStoreId: id, Origin: types.OriginTypeExternalKeyStore, XksKeyId: aws.String(xksKeyID)})
	}
	_, err = create("11111111-2222-3333-4444-555555555555")
	wantAPIError(t, err, "XksKeyNotFoundException", "was not found in its external key manager")
	ck, err := create(extID)
	if err != nil {
		t.Fatal(err)
	}
	keyID := ck.KeyMetadata.KeyId
	if ck.KeyMetadata.XksKeyConfiguration == nil || *ck.KeyMetadata.XksKeyConfiguration.Id != extID {
		t.Fatalf("CreateKey metadata %+v", ck.KeyMetadata)
	}

	ec := map[string]string{"tenant": "a"}
	enc, err := k.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("double encrypted"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, []byte("double encrypted")) {
		t.Fatalf("Decrypt: %v", err)
	}
	dk, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}

	// The key disabled in the external key manager (the proxy kmsd).
	if _, err := proxyKMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(extID)}); err != nil {
		t.Fatal(err)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException", "is not enabled in the external key manager")
	if _, err := proxyKMS.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(extID)}); err != nil {
		t.Fatal(err)
	}
	dec, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
		t.Fatalf("Decrypt after enabling the external key again: %v", err)
	}

	// Disconnected: the key is Unavailable.
	if _, err := k.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		t.Fatal(err)
	}
	md, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
	if err != nil || md.KeyMetadata.KeyState != types.KeyStateUnavailable {
		t.Fatalf("DescribeKey of a key in a disconnected store: %v %+v", err, md)
	}
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException", "not connected to its external key store proxy")
}
