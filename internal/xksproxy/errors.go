package xksproxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// The error names of the specification's "Error codes" table.
const (
	errValidation      = "ValidationException"
	errInvalidState    = "InvalidStateException"
	errInvalidCipher   = "InvalidCiphertextException"
	errInvalidKeyUsage = "InvalidKeyUsageException"
	errAuthentication  = "AuthenticationFailedException"
	errAccessDenied    = "AccessDeniedException"
	errKeyNotFound     = "KeyNotFoundException"
	errInvalidURIPath  = "InvalidUriPathException"
	errThrottling      = "ThrottlingException"
	errUnsupported     = "UnsupportedOperationException"
	errDependency      = "DependencyTimeoutException"
	errInternal        = "InternalException"
)

var statusOf = map[string]int{
	errValidation:      http.StatusBadRequest,
	errInvalidState:    http.StatusBadRequest,
	errInvalidCipher:   http.StatusBadRequest,
	errInvalidKeyUsage: http.StatusBadRequest,
	errAuthentication:  http.StatusUnauthorized,
	errAccessDenied:    http.StatusForbidden,
	errKeyNotFound:     http.StatusNotFound,
	errInvalidURIPath:  http.StatusNotFound,
	errThrottling:      http.StatusTooManyRequests,
	errUnsupported:     http.StatusNotImplemented,
	errDependency:      http.StatusServiceUnavailable,
	errInternal:        http.StatusInternalServerError,
}

// xksError is an answer in the specification's error shape. cause, kept
// for the log, never reaches the caller.
type xksError struct {
	name, message string
	cause         error
	status        int // the HTTP status when not the name's own
}

func (e *xksError) Error() string { return e.name + ": " + e.message }

func fail(name, format string, args ...any) *xksError {
	return &xksError{name: name, message: fmt.Sprintf(format, args...)}
}

// fromKMS maps the backend's typed errors to the specification's names.
func fromKMS(err error) *xksError {
	e := kmserr.As(err)
	name := errInternal
	switch e.Code {
	case kmserr.NotFound:
		name = errKeyNotFound
	case kmserr.Disabled, kmserr.InvalidState, kmserr.KeyUnavailable:
		name = errInvalidState
	case kmserr.InvalidKeyUsage:
		name = errInvalidKeyUsage
	case kmserr.InvalidCiphertext:
		return &xksError{name: errInvalidCipher, message: "The ciphertext, initialization vector, additional authenticated data or authentication tag is corrupted, missing, or otherwise invalid."}
	case kmserr.Validation:
		name = errValidation
	case kmserr.Throttling:
		name = errThrottling
	case kmserr.DependencyTimeout:
		name = errDependency
	}
	if name == errInternal {
		return &xksError{name: errInternal, message: "An internal error occurred.", cause: err}
	}
	return &xksError{name: name, message: e.Message, cause: e.Cause}
}

// wireMessage makes a message fit the specification: printable ASCII,
// under 512 characters.
func wireMessage(s string) string {
	b := make([]byte, 0, min(len(s), 511))
	for i := 0; i < len(s) && len(b) < 511; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}

func writeError(w http.ResponseWriter, e *xksError) {
	status, ok := statusOf[e.name]
	switch {
	case e.status != 0:
		status = e.status
	case !ok:
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, struct {
		Name    string `json:"errorName"`
		Message string `json:"errorMessage,omitempty"`
	}{e.name, wireMessage(e.message)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errorName":"` + errInternal + `"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
