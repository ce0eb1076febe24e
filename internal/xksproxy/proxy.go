package xksproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/uuid"
)

// Backend is what the proxy needs of kms; *kms.Service is one.
type Backend interface {
	XKSKeyMetadata(ctx context.Context, c *kms.Call, externalKeyID string) (*kms.XKSKey, error)
	XKSEncrypt(ctx context.Context, c *kms.Call, externalKeyID string, plaintext, aad []byte) (*kms.XKSCiphertext, error)
	XKSDecrypt(ctx context.Context, c *kms.Call, externalKeyID string, in *kms.XKSCiphertext, aad []byte) (secret.Bytes, error)
	XKSVerify(ctx context.Context, c *kms.Call, externalKeyID string, in *kms.XKSCiphertext, aad, plaintext []byte) error
}

// Auditor records one event per request; an error means the record was
// not kept.
type Auditor interface {
	Append(ev *audit.Event) error
}

// Config wires a Handler.
type Config struct {
	Backend Backend
	Audit   Auditor
	// BestEffortAudit answers even when the audit record could not be kept
	// (kmsd dev); off, such a request gets InternalException.
	BestEffortAudit bool
	Logger          *slog.Logger
	// Credentials are the SigV4 credentials accepted (several while they
	// are rotated).
	Credentials []Credential
	// AccountID and Region are the partition whose keys are served.
	AccountID, Region string
	// Prefix is the optional path prefix before /kms/xks/v1: "" or
	// "/name", without a trailing slash.
	Prefix string
	// Now is the clock for the signature's 5-minute window; nil: time.Now.
	Now func() time.Time
	// AllowedPrincipals and AllowedKeyARNs, when not empty, restrict which
	// requestMetadata.awsPrincipalArn and kmsKeyArn may use the keys: each
	// entry is an exact ARN, or a prefix ending in "*". GetHealthStatus is
	// never restricted, as the specification requires.
	AllowedPrincipals []string
	AllowedKeyARNs    []string
	// RequireClientCert answers only requests that came over TLS with a
	// client certificate the listener verified; ClientCommonName, when
	// set, must be its subject's CN (AWS KMS presents
	// cks.kms.<Region>.amazonaws.com).
	RequireClientCert bool
	ClientCommonName  string
	// Ready reports whether the server can serve keys (GetHealthStatus).
	Ready func() error
	// Model names the software in GetHealthStatus ("kmsd v1.2.3").
	Model string
	// Observer, when set, is told each request's operation (the audit
	// eventName), outcome ("ok" or the errorName) and latency.
	Observer interface {
		ObserveRequest(operation, outcome string, latency time.Duration)
	}
}

// Handler serves the XKS Proxy API under Prefix + "/kms/xks/v1/".
type Handler struct {
	cfg      Config
	verifier *sigv4.Verifier
	base     string
}

// New checks cfg (every credential against the specification's rules)
// and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Backend == nil || cfg.Audit == nil {
		return nil, errors.New("xksproxy: Backend and Audit are required")
	}
	if cfg.Prefix != "" && (!strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/")) {
		return nil, fmt.Errorf("xksproxy: prefix %q must start with / and not end with /", cfg.Prefix)
	}
	creds, err := newCredentialSet(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{
		cfg:  cfg,
		base: cfg.Prefix + "/kms/xks/v1/",
		// The specification fixes the window at 5 minutes each way.
		verifier: &sigv4.Verifier{Credentials: creds, Now: cfg.Now, MaxSkew: 5 * time.Minute, Services: []string{service}},
	}, nil
}

// service is the SigV4 service name of the XKS Proxy API.
const service = "kms-xks-proxy"

// eventSource names the API in audit records, after the SigV4 service
// name as kms.amazonaws.com follows "kms", so that these records are never
// mistaken for KMS API calls.
const eventSource = service + ".amazonaws.com"

// maxBody bounds a request: the specification's largest request (8192
// bytes of AAD and 4300 of ciphertext in Base64, ARNs of 2048) is far
// below it.
const maxBody = 256 << 10

// call is what one request learned, for its answer and its audit record.
type call struct {
	kms         kms.Call
	op          operation
	keyID       string
	accessKeyID string
	region      string
	params      map[string]any
	elements    map[string]any
	extra       map[string]any
}

// ServeHTTP answers one XKS request and records it. Whatever happens — a
// bad signature, a bad path, a panic — exactly one audit record is written
// before the answer, and in fail-closed mode no answer leaves without it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start, begin := h.cfg.Now(), time.Now()
	c := &call{region: h.cfg.Region}
	c.kms.RequestID, c.kms.EventID = uuid.New(), uuid.NewTimeOrdered(begin)
	c.kms.Caller = kms.Caller{AccountID: h.cfg.AccountID, Region: h.cfg.Region, SourceIP: sourceIP(r), UserAgent: r.UserAgent(), SecureTransport: r.TLS != nil}
	w.Header().Set("X-Amzn-RequestId", c.kms.RequestID)

	resp, xerr := func() (resp any, xerr *xksError) {
		defer func() {
			if p := recover(); p != nil {
				h.cfg.Logger.Error("panic in XKS handler", "requestId", c.kms.RequestID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, xerr = nil, fail(errInternal, "An internal error occurred.")
			}
		}()
		return h.serve(w, r, c)
	}()

	ev := h.event(c, start, r)
	if xerr != nil {
		ev.ErrorCode, ev.ErrorMessage = xerr.name, wireMessage(xerr.message)
		ev.ResponseElements, ev.AdditionalEventData = nil, nil
	}
	outcome := "ok"
	defer func() { h.finish(r.Context(), c, outcome, xerr, time.Since(begin)) }()
	if xerr != nil {
		outcome = xerr.name
	}
	if aerr := h.cfg.Audit.Append(ev); aerr != nil {
		if !h.cfg.BestEffortAudit {
			// No audit record, no answer: never hand out plaintext unaudited.
			h.cfg.Logger.Error("audit write failed; refusing the XKS request", "requestId", c.kms.RequestID, "error", aerr)
			outcome = errInternal
			writeError(w, fail(errInternal, "An internal error occurred."))
			return
		}
		h.cfg.Logger.Error("audit write failed; answering the XKS request anyway (best-effort audit)", "requestId", c.kms.RequestID, "error", aerr)
	}
	if xerr != nil {
		writeError(w, xerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, c *call) (any, *xksError) {
	op, keyID, routeErr := h.route(r.URL.EscapedPath())
	c.op, c.keyID = op, keyID
	if r.Method != http.MethodPost {
		// The specification requires 405; it names no error for it.
		w.Header().Set("Allow", http.MethodPost)
		return nil, &xksError{name: errValidation, message: "The XKS Proxy API takes POST requests only.", status: http.StatusMethodNotAllowed}
	}
	if err := h.checkClientCert(r.TLS); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fail(errUnsupported, "The request body is larger than %d bytes, the most this proxy accepts.", maxBody)
	}
	if err != nil {
		return nil, fail(errValidation, "The request body could not be read.")
	}
	res, err := h.verifier.Verify(r.Context(), withoutUnsignedContentType(r), body)
	if err != nil {
		e := kmserr.As(err)
		if e.Code == kmserr.Internal {
			return nil, &xksError{name: errInternal, message: "An internal error occurred.", cause: err}
		}
		// Every SigV4 refusal, whatever AWS would call it, is one name here.
		return nil, &xksError{name: errAuthentication, message: e.Message}
	}
	c.accessKeyID, c.region = res.AccessKeyID, res.Region
	if routeErr != nil {
		return nil, routeErr
	}
	req, xerr := decodeRequest(body)
	if xerr != nil {
		return nil, xerr
	}
	c.params = map[string]any{"requestMetadata": req.Metadata}
	if keyID != "" {
		c.params["externalKeyId"] = keyID
	}
	if xerr := checkMetadata(req.Metadata, op.required); xerr != nil {
		return nil, xerr
	}
	if op.authorized {
		if xerr := h.authorize(req.Metadata, op); xerr != nil {
			return nil, xerr
		}
	}
	return op.run(h, r.Context(), c, req)
}

// route finds the operation a path names: health, or keys/ID/metadata,
// encrypt or decrypt. An unknown path is InvalidUriPathException; a key id
// outside the specification's alphabet is ValidationException.
func (h *Handler) route(path string) (operation, string, *xksError) {
	unknown := operation{event: "XksUnknownOperation"}
	errPath := fail(errInvalidURIPath, "The URI path is not an XKS Proxy API path.")
	rest, ok := strings.CutPrefix(path, h.base)
	if !ok {
		return unknown, "", errPath
	}
	if rest == "health" {
		op, _ := lookupOperation(rest)
		return op, "", nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != "keys" || parts[2] == "health" {
		return unknown, "", errPath
	}
	op, ok := lookupOperation(parts[2])
	if !ok {
		return unknown, "", errPath
	}
	if id := parts[1]; !validExternalKeyID(id) {
		return op, "", fail(errValidation, "The externalKeyId must be 1 to 128 characters, each a letter, a digit, '-', '.' or '_'.")
	}
	return op, parts[1], nil
}

func validExternalKeyID(id string) bool {
	return len(id) >= 1 && len(id) <= 128 && only(id, func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_'
	})
}

// withoutUnsignedContentType returns r without its Content-Type header when
// the signature does not cover it. AWS KMS signs only host and x-amz-date
// (Appendix A) but sends Content-Type, which kmsd's verifier otherwise
// insists be signed; dropping an unsigned header changes nothing the
// signature covers.
func withoutUnsignedContentType(r *http.Request) *http.Request {
	if _, ok := r.Header["Content-Type"]; !ok || signsHeader(r.Header.Get("Authorization"), "content-type") {
		return r
	}
	r2 := *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Content-Type")
	return &r2
}

// signsHeader reports whether a SigV4 Authorization header's SignedHeaders
// list names h.
func signsHeader(auth, h string) bool {
	_, list, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return false
	}
	if i := strings.IndexAny(list, ", "); i >= 0 {
		list = list[:i]
	}
	for _, name := range strings.Split(list, ";") {
		if name == h {
			return true
		}
	}
	return false
}

// checkClientCert enforces mutual TLS when it is required: the listener
// verified the certificate's chain (tls.VerifyClientCertIfGiven), so here
// it must be present, verified, and carry the configured common name.
func (h *Handler) checkClientCert(cs *tls.ConnectionState) *xksError {
	if !h.cfg.RequireClientCert {
		return nil
	}
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return fail(errAuthentication, "A client certificate issued by the configured certificate authority is required.")
	}
	if cn := h.cfg.ClientCommonName; cn != "" && cs.PeerCertificates[0].Subject.CommonName != cn {
		return fail(errAuthentication, "The client certificate's subject common name is not the one configured.")
	}
	return nil
}

func (h *Handler) event(c *call, start time.Time, r *http.Request) *audit.Event {
	ev := &audit.Event{
		EventVersion:        audit.EventVersion,
		UserIdentity:        audit.UserIdentity{Type: "Unknown", AccessKeyID: c.accessKeyID},
		EventTime:           start.UTC(),
		EventSource:         eventSource,
		EventName:           c.op.event,
		AWSRegion:           c.region,
		SourceIPAddress:     c.kms.Caller.SourceIP,
		UserAgent:           r.UserAgent(),
		RequestParameters:   audit.BoundView(c.params),
		ResponseElements:    c.elements,
		AdditionalEventData: c.extra,
		RequestID:           c.kms.RequestID,
		EventID:             c.kms.EventID,
		ReadOnly:            true,
		EventType:           audit.EventType,
		ManagementEvent:     true,
		RecipientAccountID:  h.cfg.AccountID,
		EventCategory:       audit.EventCategory,
	}
	for _, arn := range c.kms.Resources {
		ev.Resources = append(ev.Resources, audit.Resource{AccountID: h.cfg.AccountID, Type: "AWS::KMS::Key", ARN: arn})
	}
	return ev
}

// finish logs the request, as the specification recommends: its
// operation, kmsRequestId, outcome and processing time (failures at info
// or above, successes at debug), and reports it to the Observer.
func (h *Handler) finish(ctx context.Context, c *call, outcome string, e *xksError, d time.Duration) {
	if h.cfg.Observer != nil {
		h.cfg.Observer.ObserveRequest(c.op.event, outcome, d)
	}
	kmsRequestID, _ := metadataString(c.params, "kmsRequestId")
	args := []any{"requestId", c.kms.RequestID, "operation", c.op.event, "kmsRequestId", kmsRequestID, "outcome", outcome, "duration", d}
	level := slog.LevelDebug
	if e != nil {
		level = slog.LevelInfo
		switch e.name {
		case errInternal:
			level = slog.LevelError
		case errAccessDenied, errAuthentication:
			level = slog.LevelWarn
		}
		args = append(args, "message", e.message)
		if e.cause != nil {
			args = append(args, "cause", e.cause)
		}
	}
	h.cfg.Logger.Log(ctx, level, "XKS request", args...)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
