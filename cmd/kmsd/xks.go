package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/xksproxy"
)

// xksConfig turns on the XKS Proxy API: kmsd answers as the external key
// store proxy of AWS KMS (or of another kmsd), with its own symmetric keys
// of the default account and Region as the external keys. In YAML:
//
//	xks:
//	  uri_prefix: /tenant-a
//	  credentials:
//	    - access_key_id: ...
//	      secret_access_key_file: /etc/kmsd/xks-secret
//	  allowed_principals: [arn:aws:iam::123456789012:role/ebs-*]
//	  client_ca: /etc/kmsd/amazon-trust-roots.pem
//	  client_cn: cks.kms.us-east-1.amazonaws.com
type xksConfig struct {
	// URIPrefix is the path before /kms/xks/v1 ("" for none).
	URIPrefix string `yaml:"uri_prefix,omitempty"`
	// Credentials are the SigV4 credentials accepted; two while rotating.
	Credentials []xksCredential `yaml:"credentials,omitempty"`
	// AllowedPrincipals and AllowedKMSKeys, when set, restrict the
	// requestMetadata's awsPrincipalArn and kmsKeyArn (exact, or a prefix
	// ending in *).
	AllowedPrincipals []string `yaml:"allowed_principals,omitempty"`
	AllowedKMSKeys    []string `yaml:"allowed_kms_keys,omitempty"`
	// ClientCA makes the listener ask for client certificates chained to
	// it, and the XKS paths require one; ClientCN is the subject CN the
	// certificate must carry.
	ClientCA string `yaml:"client_ca,omitempty"`
	ClientCN string `yaml:"client_cn,omitempty"`

	// One more credential from flags or KMSD_XKS_* variables.
	flagID, flagSecret, flagSecretFile string
}

// xksCredential is a credential as the config file writes it: the secret
// itself or a file holding it.
type xksCredential struct {
	AccessKeyID         string `yaml:"access_key_id"`
	SecretAccessKey     string `yaml:"secret_access_key,omitempty"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file,omitempty"`
}

// xksAPIPath is the specification's fixed part of every XKS URI.
const xksAPIPath = "/kms/xks/v1"

func (x *xksConfig) loadEnv(getenv func(string) string) error {
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("KMSD_XKS_URI_PREFIX", &x.URIPrefix)
	set("KMSD_XKS_ACCESS_KEY_ID", &x.flagID)
	set("KMSD_XKS_SECRET_ACCESS_KEY", &x.flagSecret)
	set("KMSD_XKS_SECRET_ACCESS_KEY_FILE", &x.flagSecretFile)
	set("KMSD_XKS_CLIENT_CA", &x.ClientCA)
	set("KMSD_XKS_CLIENT_CN", &x.ClientCN)
	if v := getenv("KMSD_XKS_ALLOWED_PRINCIPALS"); v != "" {
		x.AllowedPrincipals = splitList(v)
	}
	if v := getenv("KMSD_XKS_ALLOWED_KMS_KEYS"); v != "" {
		x.AllowedKMSKeys = splitList(v)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (x *xksConfig) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&x.URIPrefix, "xks-uri-prefix", x.URIPrefix, "serve the XKS Proxy API (kmsd as the external key store proxy of AWS KMS) under PREFIX/kms/xks/v1; external key ids are key ids or alias names without alias/ of the default account and Region; KMSD_XKS_URI_PREFIX, e.g. --xks-uri-prefix /tenant-a")
	fs.StringVar(&x.flagID, "xks-access-key-id", x.flagID, "access key id AWS KMS signs XKS requests with (20-30 characters A-Z, 2-7); more in the --config file's xks.credentials; KMSD_XKS_ACCESS_KEY_ID, e.g. --xks-access-key-id AKIAI2SFODNN7EXAMPLE")
	// Func flags show no default, so a secret from the environment never
	// appears in --help.
	fs.Func("xks-secret-access-key", "its secret access key (43-64 characters A-Z, a-z, 0-9, +, /, =); e.g. KMSD_XKS_SECRET_ACCESS_KEY=$(openssl rand -base64 32) (a flag shows the secret in the process list)", func(s string) error {
		x.flagSecret = s
		return nil
	})
	fs.StringVar(&x.flagSecretFile, "xks-secret-access-key-file", x.flagSecretFile, "file holding the secret access key instead; KMSD_XKS_SECRET_ACCESS_KEY_FILE, e.g. --xks-secret-access-key-file /run/secrets/xks")
	fs.StringVar(&x.ClientCA, "xks-client-ca", x.ClientCA, "require XKS callers to present a TLS client certificate chained to this PEM bundle (needs --tls-cert; the listener then asks every client for a certificate, and one presented must chain to it); KMSD_XKS_CLIENT_CA, e.g. --xks-client-ca /etc/kmsd/amazon-trust-roots.pem")
	fs.StringVar(&x.ClientCN, "xks-client-cn", x.ClientCN, "subject common name the XKS client certificate must carry; KMSD_XKS_CLIENT_CN, e.g. --xks-client-cn cks.kms.us-east-1.amazonaws.com")
	fs.Func("xks-allowed-principals", "comma-separated awsPrincipalArn values allowed to use the XKS keys (exact, or a prefix ending in *); default any; KMSD_XKS_ALLOWED_PRINCIPALS, e.g. --xks-allowed-principals 'arn:aws:iam::123456789012:role/ebs-*'", func(s string) error {
		x.AllowedPrincipals = splitList(s)
		return nil
	})
	fs.Func("xks-allowed-kms-keys", "comma-separated kmsKeyArn values allowed to use the XKS keys (exact, or a prefix ending in *); default any; KMSD_XKS_ALLOWED_KMS_KEYS, e.g. --xks-allowed-kms-keys 'arn:aws:kms:us-east-1:123456789012:key/*'", func(s string) error {
		x.AllowedKMSKeys = splitList(s)
		return nil
	})
}

// enabled reports whether any credential is configured, which turns the
// XKS Proxy API on.
func (x *xksConfig) enabled() bool {
	return len(x.Credentials) > 0 || x.flagID != "" || x.flagSecret != "" || x.flagSecretFile != ""
}

// prefix is URIPrefix normalized: "" or "/a/b", without the /kms/xks/v1
// an operator may have copied from the XksProxyUriPath.
func (x *xksConfig) prefix() string {
	p := strings.TrimSuffix(strings.TrimSuffix(x.URIPrefix, "/"), xksAPIPath)
	p = strings.TrimSuffix(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// credentials resolves every configured credential, reading secret files.
func (x *xksConfig) credentials() ([]xksproxy.Credential, error) {
	all := append([]xksCredential(nil), x.Credentials...)
	if x.flagID != "" || x.flagSecret != "" || x.flagSecretFile != "" {
		all = append(all, xksCredential{AccessKeyID: x.flagID, SecretAccessKey: x.flagSecret, SecretAccessKeyFile: x.flagSecretFile})
	}
	out := make([]xksproxy.Credential, 0, len(all))
	for _, c := range all {
		if c.AccessKeyID == "" {
			return nil, errors.New("an XKS credential has no access key id: give --xks-access-key-id (KMSD_XKS_ACCESS_KEY_ID) or xks.credentials[].access_key_id")
		}
		sec := c.SecretAccessKey
		switch {
		case sec != "" && c.SecretAccessKeyFile != "":
			return nil, fmt.Errorf("XKS access key id %s has both a secret and a secret file; give one", c.AccessKeyID)
		case c.SecretAccessKeyFile != "":
			b, err := os.ReadFile(c.SecretAccessKeyFile)
			if err != nil {
				return nil, fmt.Errorf("XKS secret access key of %s: %w", c.AccessKeyID, err)
			}
			sec = strings.TrimSpace(string(b))
		case sec == "":
			return nil, fmt.Errorf("XKS access key id %s has no secret: set KMSD_XKS_SECRET_ACCESS_KEY, --xks-secret-access-key-file or xks.credentials[].secret_access_key_file", c.AccessKeyID)
		}
		cred := xksproxy.Credential{AccessKeyID: c.AccessKeyID, Secret: secret.Bytes(sec)}
		if err := xksproxy.ValidateCredential(cred); err != nil {
			return nil, err
		}
		out = append(out, cred)
	}
	return out, nil
}

// validate checks the XKS settings at start, with messages that name the
// fix. tls says whether the listener has TLS.
func (x *xksConfig) validate(tls bool) error {
	if !x.enabled() {
		if x.URIPrefix != "" || x.ClientCA != "" || len(x.AllowedPrincipals) > 0 || len(x.AllowedKMSKeys) > 0 {
			return errors.New("XKS settings are given but no XKS credential: give --xks-access-key-id and KMSD_XKS_SECRET_ACCESS_KEY, or xks.credentials in the --config file")
		}
		return nil
	}
	if err := x.validatePrefix(); err != nil {
		return err
	}
	if _, err := x.credentials(); err != nil {
		return err
	}
	switch {
	case x.ClientCA != "" && !tls:
		return errors.New("--xks-client-ca needs TLS on the listener: give --tls-cert and --tls-key too")
	case x.ClientCN != "" && x.ClientCA == "":
		return errors.New("--xks-client-cn needs --xks-client-ca, the certificate authority the client certificate must chain to")
	}
	return nil
}

// validatePrefix applies AWS KMS's rules for the XksProxyUriPath.
func (x *xksConfig) validatePrefix() error {
	p := x.prefix()
	if strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-") != "" || strings.Contains(p, "//") {
		return fmt.Errorf("XKS URI prefix %q may hold only letters, digits, /, - and _ (AWS KMS's XksProxyUriPath rule)", x.URIPrefix)
	}
	if len(p+xksAPIPath) > 128 {
		return fmt.Errorf("XKS URI prefix %q is too long: %s must be at most 128 characters", x.URIPrefix, p+xksAPIPath)
	}
	return nil
}

// redacted is x with every secret masked, for --print-config.
func (x xksConfig) redacted() xksConfig {
	x.Credentials = append([]xksCredential(nil), x.Credentials...)
	for i := range x.Credentials {
		if x.Credentials[i].SecretAccessKey != "" {
			x.Credentials[i].SecretAccessKey = "[redacted]"
		}
	}
	if x.flagID != "" || x.flagSecretFile != "" || x.flagSecret != "" {
		c := xksCredential{AccessKeyID: x.flagID, SecretAccessKeyFile: x.flagSecretFile}
		if x.flagSecret != "" {
			c.SecretAccessKey = "[redacted]"
		}
		x.Credentials = append(x.Credentials, c)
		x.flagID, x.flagSecret, x.flagSecretFile = "", "", ""
	}
	return x
}

// warnXKSSecretFlag warns about the XKS secret given as a flag, as
// warnSecretFlags does for the others.
func warnXKSSecretFlag(f *flag.Flag, stderr io.Writer) {
	if f.Name == "xks-secret-access-key" {
		fmt.Fprintln(stderr, "kmsd: warning: --xks-secret-access-key shows the secret in the process list and the shell history; set KMSD_XKS_SECRET_ACCESS_KEY, --xks-secret-access-key-file, or xks.credentials in the --config file, instead")
	}
}

// xksHandler builds the XKS Proxy API of a node, or returns nil when it is
// off; observer (nil without an admin listener) gets its requests as it
// gets the KMS API's. It shares the node's audit log, so its records are as durable as
// every other call's (fail closed unless dev's best effort).
func xksHandler(cfg Config, n *node, log *slog.Logger, observer api.Observer) (http.Handler, string, error) {
	if !cfg.XKS.enabled() {
		return nil, "", nil
	}
	creds, err := cfg.XKS.credentials()
	if err != nil {
		return nil, "", err
	}
	h, err := xksproxy.New(xksproxy.Config{
		Backend: n.svc, Audit: n.audit, BestEffortAudit: !cfg.AuditFailClosed, Logger: log,
		Credentials: creds, AccountID: cfg.AccountID, Region: cfg.Region, Prefix: cfg.XKS.prefix(),
		AllowedPrincipals: cfg.XKS.AllowedPrincipals, AllowedKeyARNs: cfg.XKS.AllowedKMSKeys,
		RequireClientCert: cfg.XKS.ClientCA != "", ClientCommonName: cfg.XKS.ClientCN,
		Ready: n.ready, Model: "kmsd " + version, Observer: observer,
	})
	if err != nil {
		return nil, "", err
	}
	return h, cfg.XKS.prefix(), nil
}

// configureTLS makes the listener ask for client certificates when XKS
// callers must present one. The TLS configuration is the listener's, so
// other clients are asked too: they may send none (their requests do not
// need one), but a certificate that is sent must chain to the XKS CA and,
// with --xks-client-cn, carry that name, or the handshake ends, as the
// specification requires. The XKS handler then refuses requests without
// a verified certificate.
func (x *xksConfig) configureTLS(tc *tls.Config) error {
	if x.ClientCA == "" || tc == nil {
		return nil
	}
	pem, err := os.ReadFile(x.ClientCA)
	if err != nil {
		return fmt.Errorf("XKS client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("XKS client CA %s holds no PEM certificate", x.ClientCA)
	}
	tc.ClientCAs, tc.ClientAuth = pool, tls.VerifyClientCertIfGiven
	if cn := x.ClientCN; cn != "" {
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 && cs.PeerCertificates[0].Subject.CommonName != cn {
				return fmt.Errorf("client certificate subject CN %q is not %q", cs.PeerCertificates[0].Subject.CommonName, cn)
			}
			return nil
		}
	}
	return nil
}

// xksBanner is the start banner's line about the XKS Proxy API.
func xksBanner(cfg Config, url string) string {
	if !cfg.XKS.enabled() {
		return ""
	}
	mtls := ""
	if cfg.XKS.ClientCA != "" {
		mtls = ", client certificate required"
	}
	return fmt.Sprintf("  xks:   XKS Proxy API at %s%s%s (keys of account %s in %s; %d credential(s)%s)\n",
		url, cfg.XKS.prefix(), xksAPIPath, cfg.AccountID, cfg.Region, len(cfg.XKS.Credentials)+boolInt(cfg.XKS.flagID != ""), mtls)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
