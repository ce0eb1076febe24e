package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/uuid"
)

// DefaultMaxBody bounds a request body; the largest LookupEvents request
// (one attribute value of 2,000 characters and a token) is far below it.
const DefaultMaxBody = 64 << 10

// Authenticator establishes who sent a request; api.Strict and
// api.Permissive are the two kmsd uses.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error)
}

// Auditor records one event per request. An error means the record could
// not be kept.
type Auditor interface {
	Append(ev *audit.Event) error
}

// Events finds audit records; *auditindex.Index is the one kmsd uses.
type Events interface {
	Lookup(ctx context.Context, q auditindex.Query) (auditindex.Page, error)
}

// Config wires a Handler. Auth and Audit are required.
type Config struct {
	Auth  Authenticator
	Audit Auditor
	// Events finds the records LookupEvents returns; nil answers it with
	// UnsupportedOperationException (a server without an audit log on
	// disk).
	Events Events
	// Identities supplies the identity policies that decide who may call
	// which operation; nil allows every caller (a server where every
	// caller is an account root anyway).
	Identities kms.IdentityPolicies
	Logger     *slog.Logger
	Clock      kms.Clock
	MaxBody    int64
	// BestEffortAudit answers a request even when its audit record could
	// not be kept (kmsd dev); off, such a request fails.
	BestEffortAudit bool
}

// Handler serves the CloudTrail API.
type Handler struct {
	cfg Config
	ops map[string]operation
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("cloudtrail: Auth and Audit are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = kms.SystemClock
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	return &Handler{cfg: cfg, ops: operations()}, nil
}

// call is one request on its way through the handler.
type call struct {
	requestID, eventID string
	caller             kms.Caller
	readOnly           bool
	// params is the audit record's requestParameters: never a secret.
	params map[string]any
}

// ServeHTTP handles one CloudTrail call. Whatever happens — a bad body, a
// failed signature, a panic — exactly one audit record is written, with
// the request ID the client sees.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Clock.Now()
	c := &call{requestID: uuid.New(), eventID: uuid.NewTimeOrdered(time.Now())}
	w.Header()["X-Amzn-Requestid"] = []string{c.requestID}
	c.caller.SourceIP, c.caller.UserAgent = sourceIP(r), r.UserAgent()
	opName, isTarget := operationOf(r.Header.Get("X-Amz-Target"))

	resp, err := func() (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				h.cfg.Logger.Error("panic in handler", "requestId", c.requestID, "operation", opName, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, kmserr.Internalf("panic: %v", p)
			}
		}()
		body, err := h.readBody(w, r)
		if err != nil {
			return nil, err
		}
		caller, err := h.cfg.Auth.Authenticate(r.Context(), r, body)
		if err != nil {
			return nil, err
		}
		caller.SourceIP, caller.UserAgent = c.caller.SourceIP, c.caller.UserAgent
		caller.SecureTransport = r.TLS != nil
		c.caller = caller
		o, ok := h.ops[opName]
		switch {
		case !isTarget:
			return nil, kmserr.New(kmserr.UnknownOperation, "")
		case !ok && knownOperation(opName):
			return nil, kmserr.New(CodeUnsupportedOperation, "%s is not supported by kmsd, which serves LookupEvents of the CloudTrail API.", opName)
		case !ok:
			return nil, kmserr.New(kmserr.UnknownOperation, "")
		}
		c.readOnly = o.readOnly
		if err := h.authorize(r.Context(), c, "cloudtrail:"+opName); err != nil {
			return nil, err
		}
		return o.run(r.Context(), h, c, body)
	}()

	ev := h.event(c, opName, start)
	var code, msg string
	if err != nil {
		e := kmserr.As(err)
		code, msg = wireError(e)
		ev.ErrorCode = code
		ev.ErrorMessage, _ = audit.BoundMessage(msg)
		if e.Cause != nil {
			h.cfg.Logger.Error("request failed", "requestId", c.requestID, "operation", opName, "error", e.Cause)
		}
	}
	if aerr := h.cfg.Audit.Append(ev); aerr != nil {
		if !h.cfg.BestEffortAudit {
			h.cfg.Logger.Error("audit write failed; refusing the request", "requestId", c.requestID, "operation", opName, "error", aerr)
			if errors.Is(aerr, audit.ErrTimeout) {
				// Back-pressure past its deadline: throttling, which every
				// AWS SDK retries after a backoff, not a server fault.
				writeError(w, kmserr.Throttling, "Rate exceeded")
				return
			}
			writeError(w, kmserr.InternalFailure, "An internal error occurred.")
			return
		}
		h.cfg.Logger.Error("audit write failed; answering anyway (best-effort audit)", "requestId", c.requestID, "operation", opName, "error", aerr)
	}
	if err != nil {
		writeError(w, code, msg)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, kmserr.New(kmserr.UnknownOperation, "")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return nil, kmserr.New(kmserr.Serialization, "Content-Type must be application/x-amz-json-1.1")
	}
	if r.ContentLength > h.cfg.MaxBody {
		return nil, kmserr.New(kmserr.Validation, "Request body is larger than %d bytes", h.cfg.MaxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, kmserr.New(kmserr.Validation, "Request body is larger than %d bytes", h.cfg.MaxBody)
	}
	if err != nil {
		return nil, kmserr.New(kmserr.Serialization, "Could not read the request body")
	}
	return body, nil
}

// event is the CloudTrail record of a call, as CloudTrail writes it for
// its own API.
func (h *Handler) event(c *call, opName string, start time.Time) *audit.Event {
	return &audit.Event{
		EventVersion: audit.EventVersion,
		UserIdentity: audit.UserIdentity{
			Type: c.caller.Type, PrincipalID: c.caller.PrincipalID, ARN: c.caller.ARN,
			AccountID: c.caller.AccountID, AccessKeyID: c.caller.AccessKeyID, UserName: c.caller.UserName,
		},
		EventTime:          start.UTC(),
		EventSource:        "cloudtrail.amazonaws.com",
		EventName:          opName,
		AWSRegion:          c.caller.Region,
		SourceIPAddress:    c.caller.SourceIP,
		UserAgent:          c.caller.UserAgent,
		RequestParameters:  audit.BoundView(c.params),
		RequestID:          c.requestID,
		EventID:            c.eventID,
		ReadOnly:           c.readOnly,
		EventType:          audit.EventType,
		ManagementEvent:    true,
		RecipientAccountID: c.caller.AccountID,
		EventCategory:      audit.EventCategory,
	}
}

// operationOf returns the operation an X-Amz-Target names, and whether it
// is a CloudTrail target at all. Botocore (the AWS CLI) sends the full
// target, the Smithy-based SDKs the short one; AWS takes both.
func operationOf(target string) (string, bool) {
	if op, ok := strings.CutPrefix(target, TargetPrefix); ok {
		return op, true
	}
	return strings.CutPrefix(target, ShortTargetPrefix)
}

// knownOperation reports whether name is an operation of the CloudTrail
// API.
func knownOperation(name string) bool {
	_, found := slices.BinarySearch(Operations, name)
	return found
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
