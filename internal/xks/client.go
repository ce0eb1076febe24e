package xks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	json "github.com/go-json-experiment/json"
)

// maxResponse bounds what a proxy answer may be; the largest legitimate one
// (a Decrypt of the largest KMS plaintext, or a ten-entry health report) is
// far smaller.
const maxResponse = 256 << 10

// specStatus is the spec's "Error codes" table: each errorName a proxy may
// send and the HTTP status it goes with.
var specStatus = map[string]int{
	"ValidationException":           400,
	"InvalidStateException":         400,
	"InvalidCiphertextException":    400,
	"InvalidKeyUsageException":      400,
	"AuthenticationFailedException": 401,
	"AccessDeniedException":         403,
	"KeyNotFoundException":          404,
	"InvalidUriPathException":       404,
	"ThrottlingException":           429,
	"UnsupportedOperationException": 501,
	"DependencyTimeoutException":    503,
	"InternalException":             500,
}

// call POSTs body to base+path, signed, and decodes a 200 answer into out.
// The caller owns body and clears it; call clears the answer's bytes after
// decoding, since a Decrypt answer holds plaintext.
func (c *Client) call(parent context.Context, op, path string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()

	var t connTrace
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, t.trace()), http.MethodPost, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("xks %s: build request: %w", op, err)
	}
	// Sign before the body and Content-Type are attached so the signature
	// covers exactly host;x-amz-date, as AWS KMS signs (spec, Appendix A);
	// the payload hash still binds the body.
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: c.cfg.AccessKeyID, SecretAccessKey: c.cfg.Secret}
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningService, c.cfg.Region, c.now().UTC()); err != nil {
		return fmt.Errorf("xks %s: sign request: %w", op, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(parent, ctx, op, err, &t)
	}
	defer resp.Body.Close()
	data, err := readAll(resp)
	defer clear(data)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return malformed(op, resp.StatusCode, "response body exceeds %d bytes", maxResponse)
		}
		return c.transportError(parent, ctx, op, err, &t)
	}
	if resp.StatusCode != http.StatusOK {
		return errorAnswer(op, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return malformed(op, resp.StatusCode, "response is not the JSON object the spec requires")
	}
	return nil
}

var errTooLarge = errors.New("response too large")

func readAll(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n > maxResponse {
		return nil, errTooLarge
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(n, 512)))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxResponse+1)); err != nil {
		clear(buf.Bytes())
		return nil, err
	}
	if buf.Len() > maxResponse {
		clear(buf.Bytes())
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// errorAnswer reads a non-200 answer: the spec's {"errorName",
// "errorMessage"} body. Anything else is a malformed response.
func errorAnswer(op string, status int, data []byte) *Error {
	if status < 400 || status > 599 {
		return malformed(op, status, "HTTP status %d is not a success or error answer", status)
	}
	var body struct {
		ErrorName    *string `json:"errorName"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.ErrorName == nil {
		return malformed(op, status, "error answer has no JSON errorName")
	}
	name := *body.ErrorName
	if _, ok := specStatus[name]; !ok {
		return malformed(op, status, "unknown errorName %q", sanitize(name))
	}
	e := &Error{Op: op, Kind: KindProxy, Name: name, Status: status}
	if body.ErrorMessage != nil {
		e.Message = sanitize(*body.ErrorMessage)
	}
	return e
}

// transportError classifies a failure to get an answer. A deadline that
// passes after a connection was made is a timeout (XKS_PROXY_TIMED_OUT); one
// that passes while connecting means the proxy is not reachable.
func (c *Client) transportError(parent, ctx context.Context, op string, err error, t *connTrace) error {
	if parent.Err() != nil {
		return fmt.Errorf("xks %s: %w", op, parent.Err()) // the caller gave up, not the proxy
	}
	e := &Error{Op: op, Transport: true, Err: err}
	var (
		netErr  net.Error
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		alert   tls.AlertError
		record  tls.RecordHeaderError
	)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		e.Kind = KindUnreachable
		if t.connected.Load() {
			e.Kind = KindTimeout
		}
	case t.handshakeFailed() || errors.As(err, &verify) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &record):
		e.Kind = KindTLS
	default:
		e.Kind = KindUnreachable
	}
	return e
}

// connTrace records how far a request got: whether a connection was made,
// and whether a TLS handshake failed.
type connTrace struct {
	connected atomic.Bool
	mu        sync.Mutex
	tlsErr    error
}

func (t *connTrace) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.connected.Store(true)
			}
		},
		GotConn: func(httptrace.GotConnInfo) { t.connected.Store(true) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				t.mu.Lock()
				t.tlsErr = err
				t.mu.Unlock()
			}
		},
	}
}

func (t *connTrace) handshakeFailed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tlsErr != nil
}
