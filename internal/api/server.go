package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/uuid"
)

const (
	contentType  = "application/x-amz-json-1.1"
	targetPrefix = "TrentService."
	// cloudTrailTargetPrefix starts the X-Amz-Target of CloudTrail's
	// operations as botocore sends it; the Smithy-based SDKs send the
	// short form.
	cloudTrailTargetPrefix = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
	cloudTrailShortPrefix  = "CloudTrail_20131101."
	// DefaultMaxBody bounds a request body. The largest legal KMS request
	// (a 32 KB policy, or 6144-byte blobs in base64) is far below it.
	DefaultMaxBody = 1 << 20
)

// Auditor records one event per request. An error means the record could
// not be kept, and the request must fail rather than answer unaudited.
type Auditor interface {
	Append(ev *audit.Event) error
}

// Config wires a Server.
type Config struct {
	Service *kms.Service
	Auth    Authenticator
	Audit   Auditor
	Logger  *slog.Logger
	// Ready reports whether the server may take requests (nil: always).
	Ready   func() error
	MaxBody int64
	Clock   kms.Clock
	// Query serves the AWS query-protocol services that share the endpoint
	// (IAM and STS); nil serves KMS alone.
	Query QueryAPI
	// CloudTrail serves the CloudTrail API (LookupEvents), which shares the
	// endpoint too; nil leaves it out.
	CloudTrail http.Handler
	// Outbox, when set, writes the audit record of every state-changing
	// call in the same store transaction as the change (the Service's
	// store must be Outbox.Store()).
	Outbox *outbox.Outbox
	// BestEffortAudit answers a request even when its audit record could
	// not be made durable (kmsd dev). The failure is logged, counted and
	// reported by /readyz until a record is written again. Off, such a
	// request gets KMSInternalException.
	BestEffortAudit bool
	// Observer, when set, is told each KMS request's operation, outcome
	// and latency.
	Observer Observer
	// XKSProxy serves the XKS Proxy API at XKSPrefix + "/kms/xks/v1/";
	// nil leaves it out. XKSPrefix is "" or starts with "/" and has no
	// trailing "/".
	XKSProxy  http.Handler
	XKSPrefix string
}

// QueryAPI serves IAM and STS requests. service is the SigV4 credential
// scope's service ("iam" or "sts"), or "" for an unsigned form-encoded
// request.
type QueryAPI interface {
	ServeQuery(w http.ResponseWriter, r *http.Request, service string)
}

// Server is the HTTP handler for the KMS API and the health endpoints.
type Server struct {
	cfg     Config
	ops     map[string]operation
	audit   auditHealth
	ann     announcer // cfg.Audit, when it takes announcements
	xksPath string    // where the XKS Proxy API's paths start, made once
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("api: Service, Auth and Audit are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Clock == nil {
		cfg.Clock = kms.SystemClock
	}
	s := &Server{cfg: cfg, ops: operations(), xksPath: cfg.XKSPrefix + "/kms/xks/v1/"}
	s.ann, _ = cfg.Audit.(announcer)
	return s, nil
}

// ServeHTTP routes health checks and KMS API calls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
		serveHealth(w)
		return
	case r.URL.Path == "/readyz" && r.Method == http.MethodGet:
		err := s.audit.err()
		if err == nil && s.cfg.Ready != nil {
			err = s.cfg.Ready()
		}
		if err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
		return
	}
	if s.cfg.XKSProxy != nil && strings.HasPrefix(r.URL.Path, s.xksPath) {
		s.cfg.XKSProxy.ServeHTTP(w, r)
		return
	}
	if s.cfg.CloudTrail != nil && cloudTrailRequest(r) {
		s.cfg.CloudTrail.ServeHTTP(w, r)
		return
	}
	if s.cfg.Query != nil {
		if service, ok := queryService(r); ok {
			s.cfg.Query.ServeQuery(w, r, service)
			return
		}
	}
	if fromPerson(r) {
		serveLanding(w, r)
		return
	}
	s.serveAPI(w, r)
}

// queryService routes a request by its SigV4 credential scope: a request
// scoped to iam or sts goes to the query API. A KMS call carries
// X-Amz-Target, so it is told apart by one header lookup before any
// parsing. An unsigned form-encoded POST goes to the query API too, which
// then answers it (or refuses it, when signatures are enforced).
func queryService(r *http.Request) (string, bool) {
	if _, kms := r.Header["X-Amz-Target"]; kms {
		return "", false
	}
	if auth := r.Header["Authorization"]; len(auth) > 0 {
		switch service := scopeService(auth[0]); service {
		case "iam", "sts":
			return service, true
		}
		return "", false
	}
	ct := r.Header["Content-Type"]
	return "", len(ct) == 1 && strings.HasPrefix(ct[0], "application/x-www-form-urlencoded")
}

// cloudTrailRequest reports whether r is a call of the CloudTrail API: its
// X-Amz-Target names a CloudTrail operation or, without one, its SigV4
// credential scope's service is cloudtrail.
func cloudTrailRequest(r *http.Request) bool {
	if t := r.Header["X-Amz-Target"]; len(t) > 0 {
		return strings.HasPrefix(t[0], cloudTrailTargetPrefix) || strings.HasPrefix(t[0], cloudTrailShortPrefix)
	}
	auth := r.Header["Authorization"]
	return len(auth) > 0 && scopeService(auth[0]) == "cloudtrail"
}

// scopeService returns the service of a SigV4 Authorization header's
// credential scope (Credential=AKID/DATE/REGION/SERVICE/aws4_request), or "".
func scopeService(auth string) string {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	for n := 0; n < 3; n++ {
		j := strings.IndexByte(cred, '/')
		if j < 0 {
			return ""
		}
		cred = cred[j+1:]
	}
	service, _, ok := strings.Cut(cred, "/")
	if !ok {
		return ""
	}
	return service
}

// serveAPI handles one KMS call. Whatever happens — a bad body, a failed
// signature, a panic — exactly one audit record is written, with the same
// request ID the client sees.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	begin := time.Now() // monotonic, for the latency; start may be a test's clock
	start := s.cfg.Clock.Now()
	reqID := uuid.New()
	w.Header()["X-Amzn-Requestid"] = []string{reqID}
	opName := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	call := &kms.Call{RequestID: reqID, EventID: uuid.NewTimeOrdered(begin)}
	call.Caller.SourceIP = sourceIP(r)
	call.Caller.UserAgent = r.UserAgent()
	var views auditViews
	var readOnly bool
	var entry *outbox.Entry
	outcome := outcomeOK // or the exception the caller gets
	announced := s.announce()
	defer func() {
		s.withdraw(announced) // still set only if no record was appended
		s.finish(r, call, opName, outcome, begin)
	}()

	resp, err := func() (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				s.cfg.Logger.Error("panic in handler", "requestId", reqID, "operation", opName, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				resp, err = nil, kmserr.Internalf("panic: %v", p)
			}
		}()
		body, err := s.readBody(w, r)
		if err != nil {
			return nil, err
		}
		caller, err := s.cfg.Auth.Authenticate(r.Context(), r, body)
		if err != nil {
			return nil, err
		}
		caller.SourceIP, caller.UserAgent = call.Caller.SourceIP, call.Caller.UserAgent
		caller.SecureTransport = r.TLS != nil
		call.Caller = caller
		o, ok := s.ops[opName]
		switch {
		case !strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix):
			return nil, kmserr.New(kmserr.UnknownOperation, "")
		case !ok && knownOperation(opName):
			return nil, kmserr.New(kmserr.UnsupportedOperation, "%s is not supported by this kmsd version.", opName)
		case !ok:
			return nil, kmserr.New(kmserr.UnknownOperation, "")
		}
		readOnly = o.readOnly
		if err := s.admit(opName, call); err != nil {
			return nil, err
		}
		ctx := r.Context()
		if s.cfg.Outbox != nil && !readOnly {
			entry = outbox.NewEntry(call.EventID, func() *audit.Event {
				// Built at the commit, before the operation returns: the
				// answer is the one the operation settled in that
				// transaction.
				atCommit := views
				if a := call.Answer(); a != nil {
					atCommit.elements = audit.BoundView(a.ResponseElements())
				}
				return s.event(call, opName, start, false, &atCommit)
			})
			ctx = outbox.With(ctx, entry)
		}
		resp, err = o.run(ctx, s.cfg.Service, call, body, &views)
		if err == nil && o.void {
			resp = nil
		}
		return resp, err
	}()

	ev := s.event(call, opName, start, readOnly, &views)
	if err != nil {
		e := kmserr.As(err)
		ev.ErrorCode, ev.ErrorMessage = e.Code, e.Message
		outcome = e.Code
		ev.ResponseElements = nil
		if e.Cause != nil {
			s.cfg.Logger.Log(r.Context(), causeLevel(e.Code), "request failed", "requestId", reqID, "operation", opName, "error", e.Cause)
		}
	}
	aerr := s.appendRecord(ev, &announced)
	if aerr == nil {
		s.audit.ok()
	} else {
		s.audit.failed(aerr)
	}
	if entry != nil && entry.Committed() {
		// The change committed with its record in the store's outbox, so
		// the record is durable whatever the log said; it is shipped to
		// the log later if the log refused it. Refusing now would make
		// the caller retry a change that happened.
		s.cfg.Outbox.Finish(entry, aerr == nil)
		if aerr != nil {
			s.cfg.Logger.Error("audit log write failed; the record stays in the store's outbox until the log takes it", "requestId", reqID, "operation", opName, "error", aerr)
			aerr = nil
		}
	}
	if aerr != nil {
		if !s.cfg.BestEffortAudit {
			// No audit record, no answer: never hand out plaintext unaudited.
			s.cfg.Logger.Error("audit write failed; refusing the request", "requestId", reqID, "operation", opName, "error", aerr)
			refusal := kmserr.New(kmserr.Internal, "An internal error occurred.")
			if errors.Is(aerr, audit.ErrTimeout) {
				// Back-pressure past its deadline: a throttling error every
				// AWS SDK retries after a backoff, not a server fault.
				refusal = kmserr.New(kmserr.Throttling, "Rate exceeded")
			}
			outcome = refusal.Code
			writeError(w, refusal)
			return
		}
		s.audit.answeredUnaudited()
		s.cfg.Logger.Error("audit write failed; answering anyway (best-effort audit)", "requestId", reqID, "operation", opName, "error", aerr)
	}
	if err != nil {
		writeError(w, kmserr.As(err))
		return
	}
	if resp == nil {
		h := w.Header()
		h["Content-Type"] = contentTypeValue
		h["Content-Length"] = zeroLength
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, kmserr.New(kmserr.UnknownOperation, "")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return nil, kmserr.New(kmserr.Serialization, "Content-Type must be %s", contentType)
	}
	if r.ContentLength > s.cfg.MaxBody {
		return nil, kmserr.New(kmserr.Validation, "Request body is larger than %d bytes", s.cfg.MaxBody)
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody), r.ContentLength)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, kmserr.New(kmserr.Validation, "Request body is larger than %d bytes", s.cfg.MaxBody)
	}
	if err != nil {
		return nil, kmserr.New(kmserr.Serialization, "Could not read the request body")
	}
	return body, nil
}

// readAll reads a body whose length is usually announced, in one allocation.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, size+1) // one spare byte detects a body longer than announced
	n, err := io.ReadFull(r, b)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return b[:n], nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(r)
	return append(b, rest...), err
}

func (s *Server) event(c *kms.Call, opName string, start time.Time, readOnly bool, v *auditViews) *audit.Event {
	ev := &audit.Event{
		EventVersion: "1.11",
		UserIdentity: audit.UserIdentity{
			Type: c.Caller.Type, PrincipalID: c.Caller.PrincipalID, ARN: c.Caller.ARN,
			AccountID: c.Caller.AccountID, AccessKeyID: c.Caller.AccessKeyID, UserName: c.Caller.UserName,
		},
		EventTime:          start.UTC(),
		EventSource:        "kms.amazonaws.com",
		EventName:          opName,
		AWSRegion:          c.Caller.Region,
		SourceIPAddress:    c.Caller.SourceIP,
		UserAgent:          c.Caller.UserAgent,
		RequestParameters:  v.params,
		ResponseElements:   v.elements,
		RequestID:          c.RequestID,
		EventID:            c.EventID,
		ReadOnly:           readOnly,
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: c.Caller.AccountID,
		EventCategory:      "Management",
	}
	for _, arn := range c.Resources {
		ev.Resources = append(ev.Resources, audit.Resource{AccountID: accountOfARN(arn), Type: "AWS::KMS::Key", ARN: arn})
	}
	return ev
}

// accountOfARN returns the account field of an ARN
// (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE), or "".
func accountOfARN(arn string) string {
	rest := arn
	for range 4 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	account, _, _ := strings.Cut(rest, ":")
	return account
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
