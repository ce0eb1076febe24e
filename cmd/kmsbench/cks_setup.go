package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The custom key stores' fixed settings, as in the README's section: the
// token, its PIN (the store's KeyStorePassword) and the proxy credential.
const (
	cksModule      = "/usr/lib/softhsm/libsofthsm2.so"
	cksCluster     = "cluster-234567abcde"
	cksToken       = "kmsbench"
	cksPIN         = "Kmsuser-Pin1"
	cksSOPIN       = "7654321"
	cksXKSPrefix   = "/ks1"
	cksXKSAKID     = "AKIAI2SFODNN7EXAMPLEXKS"
	cksXKSSecret   = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
	cksXKSEndpoint = "https://xks.example.com"
)

// cksEnv is the custom key store setup: a kmsd serving the XKS Proxy API
// (the external key manager) and a kmsd with a SoftHSM2 token as an HSM
// cluster and the proxy mapped to its endpoint, holding three keys.
type cksEnv struct {
	dir          string // SoftHSM2 configuration and tokens, the trust anchor
	kms, proxy   *server
	std, hsm, xk *string // key ids in kms: standard, AWS_CLOUDHSM, EXTERNAL_KEY_STORE
}

func (e *cksEnv) close() {
	if e.kms != nil {
		e.kms.stop()
	}
	if e.proxy != nil {
		e.proxy.stop()
	}
	_ = os.RemoveAll(e.dir)
}

// startCKS sets up the token and both servers and creates the keys; the
// KMS side runs with --enforce and extra, as the rest of make bench.
func startCKS(ctx context.Context, bin string, extra []string) (_ *cksEnv, err error) {
	if _, err := os.Stat(cksModule); err != nil {
		return nil, fmt.Errorf("SoftHSM2 is not installed (%w): run scripts/ensure-tools.sh, or skip with -cks=false", err)
	}
	dir, err := os.MkdirTemp("", "kmsbench-cks-")
	if err != nil {
		return nil, err
	}
	e := &cksEnv{dir: dir}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	conf, err := initSoftHSMToken(dir)
	if err != nil {
		return nil, err
	}
	anchor, err := writeTrustAnchor(filepath.Join(dir, "customerCA.crt"))
	if err != nil {
		return nil, err
	}
	if e.proxy, err = startEnv(bin, true, []string{"--xks-uri-prefix", cksXKSPrefix, "--xks-access-key-id", cksXKSAKID},
		[]string{"KMSD_XKS_SECRET_ACCESS_KEY=" + cksXKSSecret}); err != nil {
		return nil, fmt.Errorf("start the proxy kmsd: %w", err)
	}
	args := append([]string{
		"--hsm-cluster", fmt.Sprintf("id=%s,module=%s,token=%s,trust-anchor=%s", cksCluster, cksModule, cksToken, filepath.Join(dir, "customerCA.crt")),
		"--xks-proxy-connect-to", cksXKSEndpoint + "=" + e.proxy.url, "--xks-proxy-allow-http",
	}, extra...)
	if e.kms, err = startEnv(bin, true, args, []string{"SOFTHSM2_CONF=" + conf}); err != nil {
		return nil, fmt.Errorf("start the KMS kmsd with the HSM cluster (a kmsd built with cgo loads PKCS#11): %w", err)
	}
	return e, e.createKeys(ctx, anchor)
}

// initSoftHSMToken makes a SoftHSM2 configuration whose tokens live in dir
// and initialises the bench token in it, as the README does.
func initSoftHSMToken(dir string) (conf string, _ error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return "", err
	}
	conf = filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\n"), 0o600); err != nil {
		return "", err
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", cksToken, "--pin", cksPIN, "--so-pin", cksSOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("softhsm2-util --init-token: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return conf, nil
}

// writeTrustAnchor writes a self-signed CA certificate (the cluster's trust
// anchor, which CreateCustomKeyStore must present) and returns its PEM.
func writeTrustAnchor(path string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "customerCA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", err
	}
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return p, os.WriteFile(path, []byte(p), 0o600)
}

// createKeys creates and connects both stores through the SDK and creates
// a key in each, and a standard key beside them.
func (e *cksEnv) createKeys(ctx context.Context, anchor string) error {
	k := client(e.kms.url, 4)
	std, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsbench standard")})
	if err != nil {
		return fmt.Errorf("create the standard key: %w", err)
	}
	hs, err := k.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("hsm1"),
		CloudHsmClusterId: aws.String(cksCluster), TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(cksPIN)})
	if err != nil {
		return fmt.Errorf("create the AWS_CLOUDHSM store: %w", err)
	}
	ext, err := client(e.proxy.url, 1).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsbench external key")})
	if err != nil {
		return fmt.Errorf("create the external key in the proxy kmsd: %w", err)
	}
	xs, err := k.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("xks1"),
		CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore, XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint,
		XksProxyUriEndpoint: aws.String(cksXKSEndpoint), XksProxyUriPath: aws.String(cksXKSPrefix + "/kms/xks/v1"),
		XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
			AccessKeyId: aws.String(cksXKSAKID), RawSecretAccessKey: aws.String(cksXKSSecret)}})
	if err != nil {
		return fmt.Errorf("create the EXTERNAL_KEY_STORE store: %w", err)
	}
	for _, id := range []*string{hs.CustomKeyStoreId, xs.CustomKeyStoreId} {
		if err := connectStore(ctx, k, id); err != nil {
			return err
		}
	}
	hk, err := k.CreateKey(ctx, &kms.CreateKeyInput{CustomKeyStoreId: hs.CustomKeyStoreId, Origin: types.OriginTypeAwsCloudhsm})
	if err != nil {
		return fmt.Errorf("create a key in the AWS_CLOUDHSM store: %w", err)
	}
	xk, err := k.CreateKey(ctx, &kms.CreateKeyInput{CustomKeyStoreId: xs.CustomKeyStoreId, Origin: types.OriginTypeExternalKeyStore,
		XksKeyId: ext.KeyMetadata.KeyId})
	if err != nil {
		return fmt.Errorf("create a key in the EXTERNAL_KEY_STORE store: %w", err)
	}
	e.std, e.hsm, e.xk = std.KeyMetadata.KeyId, hk.KeyMetadata.KeyId, xk.KeyMetadata.KeyId
	return nil
}

// connectStore connects a store and waits until it is CONNECTED.
func connectStore(ctx context.Context, k *kms.Client, id *string) error {
	if _, err := k.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: id}); err != nil {
		return fmt.Errorf("connect %s: %w", *id, err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		d, err := k.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		if err != nil {
			return err
		}
		switch st := d.CustomKeyStores[0]; st.ConnectionState {
		case types.ConnectionStateTypeConnected:
			return nil
		case types.ConnectionStateTypeConnecting:
		default:
			return fmt.Errorf("store %s is %s (%s)", *id, st.ConnectionState, st.ConnectionErrorCode)
		}
	}
	return errors.New("store " + *id + " did not connect within 30s")
}
