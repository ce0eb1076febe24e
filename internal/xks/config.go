package xks

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// DefaultTimeout is how long AWS KMS waits for an XKS proxy to answer any
// call before it fails the KMS request (XKS Proxy API spec, "KMS
// Considerations"; developer guide, "Latency and timeout errors").
const DefaultTimeout = 250 * time.Millisecond

// SigningService is the SigV4 service name in every XKS proxy request's
// credential scope.
const SigningService = "kms-xks-proxy"

// Config says where a proxy is and how to authenticate to it. Endpoint, Path,
// AccessKeyID and Secret are the custom key store's XksProxyUriEndpoint,
// XksProxyUriPath and XksProxyAuthenticationCredential.
type Config struct {
	Endpoint    string // "https://host[:port]"; http:// only when AllowHTTP
	Path        string // XksProxyUriPath, e.g. "/example/prefix/kms/xks/v1"
	AccessKeyID string
	Secret      string // RawSecretAccessKey; never printed
	Region      string // the KMS Region: the SigV4 scope region
	AllowHTTP   bool
	// PublicOnly refuses to connect to an address PublicAddress rejects,
	// checked on every address dialled, after DNS resolution.
	PublicOnly bool
	TLS        *tls.Config      // roots for the proxy's certificate; nil: system roots
	Timeout    time.Duration    // per call; 0 means DefaultTimeout
	Clock      func() time.Time // signing time; nil means time.Now
}

// String keeps the secret out of any %v of a Config.
func (c Config) String() string {
	return fmt.Sprintf("xks.Config{Endpoint:%q Path:%q AccessKeyID:%q Secret:[redacted] Region:%q}",
		c.Endpoint, c.Path, c.AccessKeyID, c.Region)
}

// GoString is String, so %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// uriPath is AWS's XksProxyUriPathType pattern (the KMS API model); the
// length limits 10..128 are checked beside it.
var uriPath = regexp.MustCompile(`^(/[a-zA-Z0-9/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$`)

// keyID is AWS's XksKeyIdType pattern: 1..128 of letters, digits, '-', '_', '.'.
var keyID = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)

// Client calls one XKS proxy. It is safe for concurrent use.
type Client struct {
	base    string // endpoint + path, no trailing slash
	cfg     Config
	http    *http.Client
	signer  *v4.Signer
	timeout time.Duration
	now     func() time.Time
}

// New validates cfg and returns a client for it.
func New(cfg Config) (*Client, error) {
	base, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12 // the spec requires TLS 1.2 or later
		}
	}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	if cfg.PublicOnly {
		dialer.Control = publicOnly
	}
	tr := &http.Transport{
		Proxy:               nil, // the proxy endpoint is reached directly, as AWS KMS does
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	c := &Client{
		base: base,
		cfg:  cfg,
		http: &http.Client{
			Transport: tr,
			// A redirect is not an answer the spec allows; it is reported as
			// a malformed response rather than followed with our signature.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		signer:  v4.NewSigner(),
		timeout: cfg.Timeout,
		now:     cfg.Clock,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Close releases idle connections to the proxy.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func validate(cfg Config) (string, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return "", errors.New("xks: Endpoint is not a URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !cfg.AllowHTTP {
			return "", errors.New("xks: Endpoint must use https:// (http:// needs AllowHTTP)")
		}
	default:
		return "", errors.New("xks: Endpoint must start with https://")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("xks: Endpoint must be scheme://host[:port] with nothing after it")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", errors.New("xks: Endpoint has an invalid port")
		}
	}
	if u.Hostname() == "" {
		return "", errors.New("xks: Endpoint has no host")
	}
	if len(cfg.Path) < 10 || len(cfg.Path) > 128 || !uriPath.MatchString(cfg.Path) {
		return "", errors.New("xks: Path must match XksProxyUriPath: [/prefix]/kms/xks/v<N>, at most 128 characters of a-z A-Z 0-9 / - _")
	}
	if cfg.AccessKeyID == "" || cfg.Secret == "" {
		return "", errors.New("xks: AccessKeyID and Secret are required")
	}
	if cfg.Region == "" {
		return "", errors.New("xks: Region is required")
	}
	return u.Scheme + "://" + u.Host + cfg.Path, nil
}
