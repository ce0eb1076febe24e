package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
)

// Observer is told the outcome of every KMS API request, for metrics.
// operation is an operation name of the KMS API, or "unknown" for any
// other target (so a client cannot mint label values); outcome is "ok" or
// the AWS exception name the caller got.
type Observer interface {
	ObserveRequest(operation, outcome string, latency time.Duration)
}

const (
	outcomeOK        = "ok"
	unknownOperation = "unknown"
)

// finish reports a request that has been answered: to the Observer, and
// as one log line at info level. The line names the request, operation,
// principal, key and outcome, never a request or response value; debug
// adds where the request came from and its audit event.
func (s *Server) finish(r *http.Request, call *kms.Call, opName, outcome string, begin time.Time) {
	latency := time.Since(begin)
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveRequest(s.metricOperation(r, opName), outcome, latency)
	}
	ctx := r.Context()
	if !s.cfg.Logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var key string
	if len(call.Resources) > 0 {
		key = call.Resources[0]
	}
	var buf [11]slog.Attr
	attrs := append(buf[:0],
		slog.String("requestId", call.RequestID),
		slog.String("operation", opName),
		slog.String("principal", call.Caller.ARN),
		slog.String("key", key),
		slog.String("outcome", outcome),
		slog.Float64("latencyMs", float64(latency.Microseconds())/1000),
	)
	if len(call.Resources) > 1 {
		attrs = append(attrs, slog.String("otherKeys", strings.Join(call.Resources[1:], ",")))
	}
	if s.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		attrs = append(attrs,
			slog.String("sourceIp", call.Caller.SourceIP),
			slog.String("userAgent", call.Caller.UserAgent),
			slog.String("accessKeyId", call.Caller.AccessKeyID),
			slog.String("eventId", call.EventID),
		)
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// metricOperation bounds the operation label: a target outside the KMS
// API's operations counts as "unknown".
func (s *Server) metricOperation(r *http.Request, opName string) string {
	if _, ok := s.ops[opName]; (ok || knownOperation(opName)) && strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) {
		return opName
	}
	return unknownOperation
}
