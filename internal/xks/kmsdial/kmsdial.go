// Package kmsdial connects kms's external key stores to XKS proxies: it
// implements kms.XKSDialer with the xks client, packs each Encrypt answer
// into the opaque sealed form kms stores, and reports failures as
// kms.BackendError kinds.
package kmsdial

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/uuid"
	"github.com/kmsd/kmsd/internal/xks"
)

// Dialer makes xks clients for kms. Its fields apply to every proxy.
type Dialer struct {
	TLS       *tls.Config      // roots for proxy certificates; nil: system roots
	AllowHTTP bool             // accept http:// endpoints (tests, local labs)
	Timeout   time.Duration    // per call; 0: AWS's 250 ms
	Clock     func() time.Time // signing time; nil: time.Now
	// AllowPrivateAddresses lets a proxy be on loopback, a private,
	// link-local or CGNAT network. Without it such an address, an IP
	// literal or what a name resolves to, is never dialled: a tenant's
	// XksProxyUriEndpoint must not reach the server's own network (SSRF),
	// and the refusal is reported as an unreachable proxy.
	AllowPrivateAddresses bool
}

var _ kms.XKSDialer = Dialer{}

// Dial validates cfg and returns a client of its proxy. The VPC endpoint
// service settings are not used: kmsd reaches the endpoint directly.
func (d Dialer) Dial(cfg kms.XKSProxyConfig) (kms.XKSProxy, error) {
	c, err := xks.New(xks.Config{
		Endpoint: cfg.Endpoint, Path: cfg.Path, AccessKeyID: cfg.AccessKeyID, Secret: string(cfg.SecretAccessKey),
		Region: cfg.Region, AllowHTTP: d.AllowHTTP, PublicOnly: !d.AllowPrivateAddresses, TLS: d.TLS, Timeout: d.Timeout, Clock: d.Clock,
	})
	if err != nil {
		return nil, &kms.BackendError{Failure: kms.FailInvalidConfiguration, Err: err}
	}
	return proxy{c}, nil
}

type proxy struct{ c *xks.Client }

func (p proxy) Close() { p.c.Close() }

func (p proxy) Health(ctx context.Context, md kms.XKSRequestMetadata) error {
	_, err := p.c.Health(ctx, metadata(md))
	return backendError(err)
}

func (p proxy) Metadata(ctx context.Context, keyID string, md kms.XKSRequestMetadata) (*kms.XKSKeyMetadata, error) {
	m, err := p.c.Metadata(ctx, keyID, metadata(md))
	if err != nil {
		return nil, backendError(err)
	}
	return &kms.XKSKeyMetadata{KeySpec: m.KeySpec, KeyUsage: m.KeyUsage, KeyStatus: m.KeyStatus}, nil
}

func (p proxy) Encrypt(ctx context.Context, keyID string, md kms.XKSRequestMetadata, plaintext, aad []byte) ([]byte, error) {
	ct, err := p.c.Encrypt(ctx, keyID, metadata(md), plaintext, aad)
	if err != nil {
		return nil, backendError(err)
	}
	return Seal(ct), nil
}

func (p proxy) Decrypt(ctx context.Context, keyID string, md kms.XKSRequestMetadata, sealed, aad []byte) ([]byte, error) {
	ct, err := Open(sealed)
	if err != nil {
		return nil, &kms.BackendError{Failure: kms.FailInvalidCiphertext, Err: err}
	}
	pt, err := p.c.Decrypt(ctx, keyID, metadata(md), ct, aad)
	if err != nil {
		return nil, backendError(err)
	}
	return pt, nil
}

// metadata carries kms's requestMetadata over. kmsRequestId is required by
// the spec; a call without one (a background connect) gets a fresh id.
func metadata(md kms.XKSRequestMetadata) xks.RequestMetadata {
	id := md.KMSRequestID
	if id == "" {
		id = uuid.New()
	}
	return xks.RequestMetadata{AWSPrincipalArn: md.AWSPrincipalArn, KMSKeyArn: md.KMSKeyArn,
		KMSOperation: md.KMSOperation, KMSRequestID: id, KMSViaService: md.KMSViaService}
}

// failures is the xks outcome each kms Failure stands for; kms turns the
// Failure into AWS's exception, message and ConnectionErrorCode.
var failures = map[string]kms.Failure{
	"ValidationException":           kms.FailInvalidResponse,
	"InvalidStateException":         kms.FailKeyDisabled,
	"InvalidCiphertextException":    kms.FailInvalidCiphertext,
	"InvalidKeyUsageException":      kms.FailKeyUsage,
	"AuthenticationFailedException": kms.FailCredentials,
	"AccessDeniedException":         kms.FailAccessDenied,
	"KeyNotFoundException":          kms.FailKeyNotFound,
	"InvalidUriPathException":       kms.FailInvalidConfiguration,
	"ThrottlingException":           kms.FailThrottled,
	"UnsupportedOperationException": kms.FailUnsupported,
	"DependencyTimeoutException":    kms.FailTimeout,
	"InternalException":             kms.FailInternal,
}

var kinds = map[xks.Kind]kms.Failure{
	xks.KindMalformed:   kms.FailInvalidResponse,
	xks.KindTimeout:     kms.FailTimeout,
	xks.KindTLS:         kms.FailTLS,
	xks.KindUnreachable: kms.FailUnreachable,
	xks.KindUnhealthy:   kms.FailUnreachable,
}

// backendError wraps an xks failure in the kms.BackendError kind it is.
// A caller's own cancellation passes through unchanged.
func backendError(err error) error {
	if err == nil {
		return nil
	}
	var e *xks.Error
	switch {
	case errors.As(err, &e) && e.Kind == xks.KindProxy:
		return &kms.BackendError{Failure: failures[e.Name], Err: err}
	case errors.As(err, &e):
		return &kms.BackendError{Failure: kinds[e.Kind], Err: err}
	case errors.Is(err, xks.ErrInvalidInput):
		return &kms.BackendError{Failure: kms.FailInternal, Err: err}
	}
	return err
}

// The sealed form kms stores after its blob header:
//
//	version(1) | len(iv) | len(metadata) | iv | metadata | tag(16) | ciphertext
const sealVersion = 1

// Seal packs an Encrypt answer.
func Seal(ct *xks.Ciphertext) []byte {
	out := make([]byte, 0, 3+len(ct.IV)+len(ct.CiphertextMetadata)+len(ct.AuthenticationTag)+len(ct.Ciphertext))
	out = append(out, sealVersion, byte(len(ct.IV)), byte(len(ct.CiphertextMetadata)))
	out = append(out, ct.IV...)
	out = append(out, ct.CiphertextMetadata...)
	out = append(out, ct.AuthenticationTag...)
	return append(out, ct.Ciphertext...)
}

// Open unpacks what Seal packed, refusing anything else.
func Open(b []byte) (*xks.Ciphertext, error) {
	if len(b) < 3 || b[0] != sealVersion {
		return nil, errors.New("xks sealed ciphertext: unknown format")
	}
	ivLen, metaLen := int(b[1]), int(b[2])
	if (ivLen != 12 && ivLen != 16) || metaLen > 20 {
		return nil, errors.New("xks sealed ciphertext: bad sizes")
	}
	rest := b[3:]
	if len(rest) < ivLen+metaLen+16+1 {
		return nil, errors.New("xks sealed ciphertext: too short")
	}
	ct := &xks.Ciphertext{IV: rest[:ivLen]}
	rest = rest[ivLen:]
	if metaLen > 0 {
		ct.CiphertextMetadata = rest[:metaLen]
	}
	rest = rest[metaLen:]
	ct.AuthenticationTag, ct.Ciphertext = rest[:16], rest[16:]
	return ct, nil
}
