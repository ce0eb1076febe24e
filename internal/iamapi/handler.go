package iamapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/uuid"
)

// Authenticator establishes who sent a request; api.Strict and
// api.Permissive are the two kmsd uses.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error)
}

// Auditor records one event per request. An error means the record could
// not be kept, and the request must fail rather than answer unaudited.
type Auditor interface {
	Append(ev *audit.Event) error
}

// DefaultMaxBody bounds a request body: the largest IAM request, a policy
// document of 131,072 characters, percent-encoded.
const DefaultMaxBody = 1 << 20

// Config wires a Handler. Identities, Auth and Audit are required.
type Config struct {
	Identities *identity.Store
	Auth       Authenticator
	Audit      Auditor
	// Outbox, when set, writes the audit record of every state-changing
	// call in the same store transaction as the change (the identity
	// store must use Outbox.Store()).
	Outbox *outbox.Outbox
	// Authorizer decides who may call which action; nil means SameAccount.
	Authorizer Authorizer
	// Keys decides on kmsd keys for SimulatePrincipalPolicy; nil decides
	// every resource by identity policies alone.
	Keys    KeyExplainer
	Logger  *slog.Logger
	Clock   kms.Clock
	MaxBody int64
}

// Handler serves IAM and STS query requests.
type Handler struct {
	cfg Config
	ids *identity.Store
	sim *Simulator
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Identities == nil || cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("iamapi: Identities, Auth and Audit are required")
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = SameAccount{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Clock == nil {
		cfg.Clock = kms.SystemClock
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	return &Handler{cfg: cfg, ids: cfg.Identities, sim: &Simulator{Identities: cfg.Identities, Keys: cfg.Keys}}, nil
}

// call is one request on its way through the handler.
type call struct {
	requestID string
	eventID   string
	service   string
	action    string
	caller    kms.Caller
	p         params
	readOnly  bool
	// What the audit record shows: never a secret.
	reqParams map[string]any
	respElems map[string]any
	resources []audit.Resource
}

// answering returns ctx under which the identity store hands what it
// makes to elems inside its transaction, and keeps the result as the
// record's responseElements: the record the store's outbox keeps with the
// change, built at that commit, then shows the answer.
func (c *call) answering(ctx context.Context, elems func(made any) map[string]any) context.Context {
	return identity.WithCommitting(ctx, func(made any) { c.respElems = elems(made) })
}

func (c *call) param(name string, v any) {
	switch v := v.(type) {
	case string:
		if v == "" {
			return
		}
	case int:
		if v == 0 {
			return
		}
	}
	if c.reqParams == nil {
		c.reqParams = map[string]any{}
	}
	c.reqParams[name] = v
}

type operation struct {
	readOnly bool
	run      func(ctx context.Context, h *Handler, c *call) (any, error)
}

// ServeQuery handles one IAM or STS request. service is the credential
// scope's service ("iam" or "sts"), or "" for an unsigned request, whose
// Version then tells the service. Whatever happens — a bad body, a failed
// signature, a panic — exactly one audit record is written, with the
// request ID the client sees.
func (h *Handler) ServeQuery(w http.ResponseWriter, r *http.Request, service string) {
	start := h.cfg.Clock.Now()
	c := &call{requestID: uuid.New(), eventID: uuid.NewTimeOrdered(time.Now()), service: service}
	w.Header()["X-Amzn-Requestid"] = []string{c.requestID}
	c.caller.SourceIP = sourceIP(r)
	c.caller.UserAgent = r.UserAgent()

	var entry *outbox.Entry
	result, err := func() (result any, err error) {
		defer func() {
			if p := recover(); p != nil {
				h.cfg.Logger.Error("panic in handler", "requestId", c.requestID, "action", c.action, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				result, err = nil, kmserr.Internalf("panic: %v", p)
			}
		}()
		body, err := h.readBody(w, r)
		if err != nil {
			return nil, err
		}
		form, err := parseForm(r, body)
		if err != nil {
			return nil, err
		}
		c.p.v = form
		c.action = form.Get("Action")
		version := form.Get("Version")
		if c.service == "" {
			c.service = serviceOfVersion(version)
		}
		caller, err := h.cfg.Auth.Authenticate(r.Context(), r, body)
		if err != nil {
			return nil, err
		}
		caller.SourceIP, caller.UserAgent = c.caller.SourceIP, c.caller.UserAgent
		caller.SecureTransport = r.TLS != nil
		c.caller = caller
		o, ok := operations[c.service][c.action]
		switch {
		case c.action == "":
			return nil, &identity.Error{Code: codeMissingAction, Message: "Missing Action"}
		case !ok || version != versionOf(c.service):
			return nil, &identity.Error{Code: codeInvalidAction, Message: fmt.Sprintf("Could not find operation %s for version %s", echo(c.action), echo(version))}
		}
		c.readOnly = o.readOnly
		ctx := r.Context()
		if h.cfg.Outbox != nil && !o.readOnly {
			entry = outbox.NewEntry(c.eventID, func() *audit.Event { return h.event(c, start) })
			ctx = outbox.With(ctx, entry)
		}
		return o.run(ctx, h, c)
	}()

	ev := h.event(c, start)
	var code, msg string
	if err != nil {
		var cause error
		code, msg, cause = wireError(err, c.service)
		ev.ErrorCode = code
		ev.ErrorMessage, _ = audit.BoundMessage(msg)
		ev.ResponseElements = nil
		if cause != nil {
			h.cfg.Logger.Error("request failed", "requestId", c.requestID, "action", c.action, "error", cause)
		}
	}
	aerr := h.cfg.Audit.Append(ev)
	if entry != nil && entry.Committed() {
		// The change committed with its record in the store's outbox:
		// the record is durable, and reaches the log when it takes writes.
		h.cfg.Outbox.Finish(entry, aerr == nil)
		if aerr != nil {
			h.cfg.Logger.Error("audit log write failed; the record stays in the store's outbox until the log takes it", "requestId", c.requestID, "action", c.action, "error", aerr)
			aerr = nil
		}
	}
	if aerr != nil {
		h.cfg.Logger.Error("audit write failed; refusing the request", "requestId", c.requestID, "action", c.action, "error", aerr)
		if errors.Is(aerr, audit.ErrTimeout) {
			// Back-pressure past its deadline: throttling, which every
			// AWS SDK retries after a backoff, not a server fault.
			writeError(w, c.service, c.requestID, codeThrottling, "Rate exceeded")
			return
		}
		writeError(w, c.service, c.requestID, internalCode(c.service), "An internal error occurred.")
		return
	}
	if err != nil {
		writeError(w, c.service, c.requestID, code, msg)
		return
	}
	if wr, ok := result.(interface{ wipe() }); ok {
		defer wr.wipe()
	}
	if werr := writeResult(w, c.service, c.action, c.requestID, result); werr != nil {
		h.cfg.Logger.Error("encode response", "requestId", c.requestID, "action", c.action, "error", werr)
		writeError(w, c.service, c.requestID, internalCode(c.service), "An internal error occurred.")
	}
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.URL.Path != "/" || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
		return nil, &identity.Error{Code: codeInvalidAction, Message: "Only POST / and GET / are served."}
	}
	if r.ContentLength > h.cfg.MaxBody {
		return nil, &identity.Error{Code: identity.CodeValidation, Message: fmt.Sprintf("Request body is larger than %d bytes", h.cfg.MaxBody)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &identity.Error{Code: identity.CodeValidation, Message: fmt.Sprintf("Request body is larger than %d bytes", h.cfg.MaxBody)}
	}
	if err != nil {
		return nil, &identity.Error{Code: identity.CodeValidation, Message: "Could not read the request body"}
	}
	return body, nil
}

// parseForm reads the parameters of a query request: the URL's query
// string and, for a form-encoded POST, the body (whose values come first).
func parseForm(r *http.Request, body []byte) (url.Values, error) {
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &identity.Error{Code: identity.CodeValidation, Message: "The query string is malformed."}
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
			return nil, &identity.Error{Code: identity.CodeValidation, Message: "Content-Type must be application/x-www-form-urlencoded"}
		}
		bv, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &identity.Error{Code: identity.CodeValidation, Message: "The request body is not valid form data."}
		}
		for k, v := range bv {
			form[k] = append(v, form[k]...)
		}
	}
	return form, nil
}

func serviceOfVersion(v string) string {
	if v == versionSTS {
		return ServiceSTS
	}
	return ServiceIAM
}

func versionOf(service string) string {
	if service == ServiceSTS {
		return versionSTS
	}
	return versionIAM
}

func internalCode(service string) string {
	if service == ServiceSTS {
		return codeInternalFailure
	}
	return codeServiceFailure
}

// wireError maps an error to the code and message the client sees, and the
// cause only the log sees.
func wireError(err error, service string) (code, msg string, cause error) {
	var ie *identity.Error
	if errors.As(err, &ie) {
		return ie.Code, ie.Message, ie.Cause
	}
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		switch ke.Code {
		case kmserr.MissingAuthenticationToken:
			return codeMissingAuthToken, "Request is missing Authentication Token", nil
		case kmserr.IncompleteSignature:
			return codeIncompleteSignature, ke.Message, nil
		case kmserr.InvalidSignature:
			return codeSignatureMismatch, ke.Message, nil
		case kmserr.UnrecognizedClient:
			return codeInvalidClientToken, ke.Message, nil
		case kmserr.ExpiredToken:
			return codeExpiredToken, ke.Message, nil
		case kmserr.AccessDenied:
			return identity.CodeAccessDenied, ke.Message, nil
		case kmserr.Throttling:
			return codeThrottling, ke.Message, nil
		case kmserr.Validation, kmserr.Serialization:
			return identity.CodeValidation, ke.Message, nil
		case kmserr.UnknownOperation, kmserr.UnsupportedOperation:
			return codeInvalidAction, ke.Message, nil
		}
		return internalCode(service), "An internal error occurred.", ke
	}
	return internalCode(service), "An internal error occurred.", err
}

func (h *Handler) event(c *call, start time.Time) *audit.Event {
	service := c.service
	if service == "" {
		service = ServiceIAM
	}
	region := c.caller.Region
	if service == ServiceIAM || region == "" {
		region = "us-east-1" // IAM is global; CloudTrail records it in us-east-1
	}
	return &audit.Event{
		EventVersion: "1.11",
		UserIdentity: audit.UserIdentity{
			Type: c.caller.Type, PrincipalID: c.caller.PrincipalID, ARN: c.caller.ARN,
			AccountID: c.caller.AccountID, AccessKeyID: c.caller.AccessKeyID, UserName: c.caller.UserName,
		},
		EventTime:          start.UTC(),
		EventSource:        service + ".amazonaws.com",
		EventName:          c.action,
		AWSRegion:          region,
		SourceIPAddress:    c.caller.SourceIP,
		UserAgent:          c.caller.UserAgent,
		RequestParameters:  audit.BoundView(c.reqParams),
		ResponseElements:   audit.BoundView(c.respElems),
		RequestID:          c.requestID,
		EventID:            c.eventID,
		ReadOnly:           c.readOnly,
		Resources:          c.resources,
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: c.caller.AccountID,
		EventCategory:      "Management",
	}
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
