package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kms/ckshsm"
	"github.com/kmsd/kmsd/internal/xks/kmsdial"
)

// cksConfig says what custom key stores can connect to: PKCS#11 tokens,
// each standing for one CloudHsmClusterId (AWS_CLOUDHSM stores), and how to
// reach external key store proxies (EXTERNAL_KEY_STORE stores). In YAML:
//
//	custom_key_stores:
//	  hsm_clusters:
//	    - id: cluster-234567abcde
//	      account_id: "111122223333"   # default: --account-id
//	      module: /usr/lib/softhsm/libsofthsm2.so
//	      token: kms1
//	      trust_anchor: /etc/kmsd/customerCA.crt
//	  xks_proxy_ca: /etc/kmsd/xks-proxy-ca.pem
//	  xks_proxy_timeout: 250ms
//	  xks_proxy_allow_private_addresses: false
type cksConfig struct {
	HSMClusters []hsmClusterConfig `yaml:"hsm_clusters,omitempty"`
	// XKSProxyCA is a PEM bundle trusted for proxy certificates beside the
	// system roots.
	XKSProxyCA string `yaml:"xks_proxy_ca,omitempty"`
	// XKSProxyTimeout bounds each proxy call (0: AWS's 250 ms).
	XKSProxyTimeout time.Duration `yaml:"xks_proxy_timeout,omitempty"`
	// XKSProxyConnectTo lists ENDPOINT=URL pairs: connect to URL for a
	// store whose XksProxyUriEndpoint is ENDPOINT. AWS's endpoints have no
	// port, so a proxy on a test port or behind another name is reached
	// this way (like curl --connect-to).
	XKSProxyConnectTo []string `yaml:"xks_proxy_connect_to,omitempty"`
	// XKSProxyAllowHTTP lets a connect-to URL be http:// (dev only).
	XKSProxyAllowHTTP bool `yaml:"xks_proxy_allow_http,omitempty"`
	// XKSProxyAllowPrivate lets a store's XksProxyUriEndpoint reach
	// loopback, private, link-local and CGNAT addresses, for proxies on an
	// on-premises network. Without it only a connect-to URL may.
	XKSProxyAllowPrivate bool `yaml:"xks_proxy_allow_private_addresses,omitempty"`
}

// hsmClusterConfig is one token; TrustAnchor is a PEM file the stores'
// TrustAnchorCertificate must match ("" accepts any). Account is the only
// account whose stores may use it ("": the server's default account).
type hsmClusterConfig struct {
	ID          string `yaml:"id"`
	Account     string `yaml:"account_id,omitempty"`
	Module      string `yaml:"module"`
	Token       string `yaml:"token"`
	TrustAnchor string `yaml:"trust_anchor,omitempty"`
}

// clusterIDPattern is AWS's CloudHsmClusterIdType.
var clusterIDPattern = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)

func (c *cksConfig) bindFlags(fs *flag.FlagSet) {
	fs.Func("hsm-cluster", "`settings` of a PKCS#11 token AWS_CLOUDHSM custom key stores can use, named by a CloudHsmClusterId (cluster- and 11-16 of a-z, A-Z, 2-7); it belongs to one account (account=, default --account-id): other accounts get CloudHsmClusterNotFoundException; repeatable, e.g. --hsm-cluster id=cluster-234567abcde,module=/usr/lib/softhsm/libsofthsm2.so,token=kms1[,trust-anchor=customerCA.crt][,account=111122223333]", func(s string) error {
		h, err := parseHSMCluster(s)
		if err == nil {
			c.HSMClusters = append(c.HSMClusters, h)
		}
		return err
	})
	fs.StringVar(&c.XKSProxyCA, "xks-proxy-ca", c.XKSProxyCA, "`file` of PEM certificates trusted for external key store proxy certificates beside the system roots, e.g. --xks-proxy-ca proxy-ca.pem")
	fs.DurationVar(&c.XKSProxyTimeout, "xks-proxy-timeout", c.XKSProxyTimeout, "how long a call to an external key store proxy may take (0: AWS's 250ms), e.g. --xks-proxy-timeout 2s")
	fs.Func("xks-proxy-connect-to", "for `endpoint=url`, connect to url for the external key stores whose XksProxyUriEndpoint is endpoint (AWS's endpoints have no port); url may be on loopback or a private network, as the operator maps it; repeatable, e.g. --xks-proxy-connect-to https://xks.example.com=https://127.0.0.1:9443", func(s string) error {
		c.XKSProxyConnectTo = append(c.XKSProxyConnectTo, s)
		return nil
	})
	fs.BoolVar(&c.XKSProxyAllowPrivate, "xks-proxy-allow-private-addresses", c.XKSProxyAllowPrivate, "let external key stores' XksProxyUriEndpoint reach loopback, private (RFC 1918, ULA), link-local and CGNAT addresses, for proxies on an on-premises network; without it kmsd never dials them (whatever a name resolves to) and answers XksProxyUriUnreachableException, so a tenant cannot probe the server's network; --xks-proxy-connect-to targets are always allowed; e.g. --xks-proxy-allow-private-addresses for a proxy at https://xks.corp.internal (10.0.0.0/8)")
	fs.BoolVar(&c.XKSProxyAllowHTTP, "xks-proxy-allow-http", c.XKSProxyAllowHTTP, "dev only: let --xks-proxy-connect-to reach a proxy over plain http://, e.g. --xks-proxy-allow-http --xks-proxy-connect-to https://xks.example.com=http://127.0.0.1:8081")
}

func parseHSMCluster(s string) (hsmClusterConfig, error) {
	var h hsmClusterConfig
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return h, fmt.Errorf("--hsm-cluster: %q is not key=value", kv)
		case k == "id":
			h.ID = v
		case k == "account":
			h.Account = v
		case k == "module":
			h.Module = v
		case k == "token":
			h.Token = v
		case k == "trust-anchor":
			h.TrustAnchor = v
		default:
			return h, fmt.Errorf("--hsm-cluster: unknown setting %q (id, account, module, token, trust-anchor)", k)
		}
	}
	return h, nil
}

func (c *cksConfig) validate(m mode) error {
	seen := map[string]bool{}
	for _, h := range c.HSMClusters {
		switch {
		case !clusterIDPattern.MatchString(h.ID):
			return fmt.Errorf("hsm cluster id %q is not a CloudHsmClusterId: cluster- and 11 to 16 of a-z, A-Z, 2-7, e.g. cluster-234567abcde", h.ID)
		case seen[h.ID]:
			return fmt.Errorf("hsm cluster %s is configured twice", h.ID)
		case h.Module == "" || h.Token == "":
			return fmt.Errorf("hsm cluster %s needs module (the PKCS#11 library) and token (its label)", h.ID)
		case h.Account != "" && (len(h.Account) != 12 || strings.Trim(h.Account, "0123456789") != ""):
			return fmt.Errorf("hsm cluster %s: account %q must be the 12-digit id of the account it belongs to, e.g. account=111122223333", h.ID, h.Account)
		}
		seen[h.ID] = true
	}
	if c.XKSProxyAllowHTTP && m != modeDev {
		return errors.New("--xks-proxy-allow-http is for kmsd dev only: a proxy's keys and plaintexts would cross the network in the clear")
	}
	for _, p := range c.XKSProxyConnectTo {
		from, to, ok := strings.Cut(p, "=")
		u, err := url.Parse(to)
		if !ok || !strings.HasPrefix(from, "https://") || err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && c.XKSProxyAllowHTTP)) {
			return fmt.Errorf("--xks-proxy-connect-to %q: want ENDPOINT=URL, e.g. https://xks.example.com=https://127.0.0.1:9443 (http:// only with --xks-proxy-allow-http)", p)
		}
	}
	return nil
}

// backends builds what the kms service connects custom key stores to;
// account owns the clusters configured without one.
func (c *cksConfig) backends(now func() time.Time, account string) (kms.KeyStoreBackends, error) {
	clusters := ckshsm.Clusters{}
	for _, h := range c.HSMClusters {
		cl := ckshsm.Cluster{ID: h.ID, Owner: h.Account, Module: h.Module, Token: h.Token}
		if cl.Owner == "" {
			cl.Owner = account
		}
		if h.TrustAnchor != "" {
			b, err := os.ReadFile(h.TrustAnchor)
			if err != nil {
				return kms.KeyStoreBackends{}, fmt.Errorf("hsm cluster %s trust anchor: %w", h.ID, err)
			}
			if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
				return kms.KeyStoreBackends{}, fmt.Errorf("hsm cluster %s trust anchor %s is not a PEM certificate", h.ID, h.TrustAnchor)
			}
			cl.Anchor = string(b)
		}
		clusters[h.ID] = cl
	}
	d := kmsdial.Dialer{AllowHTTP: c.XKSProxyAllowHTTP, Timeout: c.XKSProxyTimeout, Clock: now, AllowPrivateAddresses: c.XKSProxyAllowPrivate}
	if c.XKSProxyCA != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(c.XKSProxyCA)
		if err != nil {
			return kms.KeyStoreBackends{}, fmt.Errorf("--xks-proxy-ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return kms.KeyStoreBackends{}, fmt.Errorf("--xks-proxy-ca %s holds no PEM certificate", c.XKSProxyCA)
		}
		d.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	to := map[string]string{}
	for _, p := range c.XKSProxyConnectTo {
		from, target, _ := strings.Cut(p, "=")
		to[from] = target
	}
	mapped := d
	mapped.AllowPrivateAddresses = true
	return kms.KeyStoreBackends{HSM: clusters, XKS: connectTo{d: d, mapped: mapped, to: to}}, nil
}

// connectTo dials the URL configured for an endpoint instead of the
// endpoint. The operator chose that URL, so it may be on a private network.
type connectTo struct {
	d, mapped kms.XKSDialer
	to        map[string]string
}

func (c connectTo) Dial(cfg kms.XKSProxyConfig) (kms.XKSProxy, error) {
	if u, ok := c.to[cfg.Endpoint]; ok {
		cfg.Endpoint = u
		return c.mapped.Dial(cfg)
	}
	return c.d.Dial(cfg)
}

// attachKeyStores wires the configured backends into svc; account is the
// server's default account.
func attachKeyStores(svc *kms.Service, c *cksConfig, account string) error {
	b, err := c.backends(nil, account)
	if err != nil {
		return err
	}
	svc.SetKeyStoreBackends(b)
	return nil
}
