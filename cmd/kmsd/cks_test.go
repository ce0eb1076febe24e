package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

// TestCustomKeyStoreConfig: the --hsm-cluster and --xks-proxy-* flags and
// the custom_key_stores YAML section load, and mistakes are refused with a
// message that names the fix.
func TestCustomKeyStoreConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kmsd.yaml")
	_ = os.WriteFile(file, []byte(`custom_key_stores:
  hsm_clusters:
    - id: cluster-234567abcde
      account_id: "444455556666"
      module: /usr/lib/softhsm/libsofthsm2.so
      token: kms1
  xks_proxy_timeout: 2s
  xks_proxy_connect_to: ["https://xks.example.com=https://127.0.0.1:9443"]
`), 0o600)
	cfg, _, err := loadConfig(modeServe, []string{"--config", file, "--hsm-cluster", "id=cluster-234567abcdf,module=/m.so,token=kms2"}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.CustomKeyStores
	if len(c.HSMClusters) != 2 || c.HSMClusters[0].Token != "kms1" || c.HSMClusters[1].ID != "cluster-234567abcdf" || c.XKSProxyTimeout.String() != "2s" || len(c.XKSProxyConnectTo) != 1 {
		t.Fatalf("loaded %+v", c)
	}
	// Each cluster belongs to one account: its own, or the default one.
	b, err := c.backends(nil, cfg.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"cluster-234567abcde": "444455556666", "cluster-234567abcdf": cfg.AccountID} {
		if cl, ok := b.HSM.Cluster(id); !ok || cl.Account() != want {
			t.Errorf("cluster %s belongs to %v, want %s", id, cl, want)
		}
	}
	for name, tc := range map[string]struct {
		m    mode
		args []string
		want string
	}{
		"cluster id":           {modeDev, []string{"--hsm-cluster", "id=cluster-1,module=/m.so,token=t"}, "is not a CloudHsmClusterId"},
		"twice":                {modeDev, []string{"--hsm-cluster", "id=cluster-234567abcde,module=/m.so,token=t", "--hsm-cluster", "id=cluster-234567abcde,module=/m.so,token=u"}, "configured twice"},
		"no token":             {modeDev, []string{"--hsm-cluster", "id=cluster-234567abcde,module=/m.so"}, "needs module"},
		"unknown setting":      {modeDev, []string{"--hsm-cluster", "id=cluster-234567abcde,pin=1234"}, "unknown setting"},
		"account":              {modeDev, []string{"--hsm-cluster", "id=cluster-234567abcde,module=/m.so,token=t,account=1234"}, "12-digit id"},
		"http in serve":        {modeServe, []string{"--xks-proxy-allow-http"}, "dev only"},
		"http without consent": {modeDev, []string{"--xks-proxy-connect-to", "https://xks.example.com=http://127.0.0.1:9"}, "--xks-proxy-allow-http"},
		"not a pair":           {modeDev, []string{"--xks-proxy-connect-to", "https://127.0.0.1:9"}, "ENDPOINT=URL"},
	} {
		_, _, err := loadConfig(tc.m, tc.args, io.Discard, noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	if _, _, err := loadConfig(modeDev, []string{"--xks-proxy-allow-http", "--xks-proxy-connect-to", "https://xks.example.com=http://127.0.0.1:9"}, io.Discard, noEnv); err != nil {
		t.Errorf("dev with --xks-proxy-allow-http: %v", err)
	}
}

// TestXKSProxyAddressPolicy: kmsd never dials an XksProxyUriEndpoint on
// loopback unless --xks-proxy-allow-private-addresses (YAML
// xks_proxy_allow_private_addresses) says so, while an
// --xks-proxy-connect-to target there is the operator's and is dialled.
// The proxy's certificate is not trusted here, so a dialled endpoint fails
// its TLS handshake and a refused one is unreachable.
func TestXKSProxyAddressPolicy(t *testing.T) {
	p := xkstest.New(t)
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	_ = os.WriteFile(file, []byte("custom_key_stores:\n  xks_proxy_allow_private_addresses: true\n"), 0o600)
	fromYAML, _, err := loadConfig(modeServe, []string{"--config", file}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	fromFlag, _, err := loadConfig(modeDev, []string{"--xks-proxy-allow-private-addresses"}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	byDefault, _, err := loadConfig(modeDev, []string{"--xks-proxy-connect-to", "https://xks.example.com=" + p.URL}, io.Discard, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	health := func(c *cksConfig, endpoint string) kms.Failure {
		t.Helper()
		// Room for a TLS handshake on a loaded machine: past AWS's 250 ms
		// a handshake that would fail on the certificate times out first.
		c.XKSProxyTimeout = 10 * time.Second
		b, err := c.backends(nil, "111122223333")
		if err != nil {
			t.Fatal(err)
		}
		px, err := b.XKS.Dial(kms.XKSProxyConfig{Endpoint: endpoint, Path: xkstest.Path, AccessKeyID: xkstest.AccessKeyID,
			SecretAccessKey: []byte(xkstest.Secret), Region: xkstest.Region})
		if err != nil {
			t.Fatal(err)
		}
		defer px.Close()
		var be *kms.BackendError
		if err := px.Health(context.Background(), kms.XKSRequestMetadata{KMSOperation: "CreateCustomKeyStore"}); !errors.As(err, &be) {
			t.Fatalf("%s: %v", endpoint, err)
		}
		return be.Failure
	}
	for _, c := range []struct {
		name     string
		cfg      *cksConfig
		endpoint string
		want     kms.Failure
	}{
		{"default", &byDefault.CustomKeyStores, p.URL, kms.FailUnreachable},
		{"connect-to", &byDefault.CustomKeyStores, "https://xks.example.com", kms.FailTLS},
		{"flag", &fromFlag.CustomKeyStores, p.URL, kms.FailTLS},
		{"yaml", &fromYAML.CustomKeyStores, p.URL, kms.FailTLS},
	} {
		if got := health(c.cfg, c.endpoint); got != c.want {
			t.Errorf("%s: %s fails with %d, want %d", c.name, c.endpoint, got, c.want)
		}
	}
}
