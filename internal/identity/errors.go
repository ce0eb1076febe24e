package identity

import (
	"errors"
	"fmt"
)

// Error codes, exactly as IAM and STS send them in <Code>.
const (
	CodeNoSuchEntity            = "NoSuchEntity"
	CodeEntityAlreadyExists     = "EntityAlreadyExists"
	CodeDeleteConflict          = "DeleteConflict"
	CodeLimitExceeded           = "LimitExceeded"
	CodeMalformedPolicyDocument = "MalformedPolicyDocument"
	CodeValidation              = "ValidationError"
	CodeInvalidInput            = "InvalidInput"
	CodeAccessDenied            = "AccessDenied"
)

// Error is an IAM-shaped error: Code is the error code IAM or STS sends and
// Message the text the client reads. Cause, if set, is for logs only.
type Error struct {
	Code    string
	Message string
	Cause   error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) Unwrap() error { return e.Cause }

// Is matches another *Error by Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Code: code, Message: format}
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of an *Error in err's chain, or "" for any other
// error (an internal failure).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrUnknownAccessKey is returned for an access key id that does not exist.
var ErrUnknownAccessKey = errors.New("identity: unknown access key")

func accessDenied(callerARN, action, resource string) *Error {
	return newError(CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s", callerARN, action, resource)
}
