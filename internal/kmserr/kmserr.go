// Package kmserr holds the typed errors every kmsd layer returns: an AWS KMS
// exception name plus the message a client sees. The wire layer maps them to
// HTTP in one place; callers test them with errors.As, never by string.
package kmserr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kmsd/kmsd/internal/store"
)

// Exception names, exactly as AWS sends them in "__type".
const (
	AccessDenied                 = "AccessDeniedException"
	AlreadyExists                = "AlreadyExistsException"
	Conflict                     = "ConflictException"
	CustomKeyStoreNotFound       = "CustomKeyStoreNotFoundException"
	DependencyTimeout            = "DependencyTimeoutException"
	Disabled                     = "DisabledException"
	DryRunOperation              = "DryRunOperationException"
	ExpiredImportToken           = "ExpiredImportTokenException"
	ExpiredToken                 = "ExpiredTokenException"
	IncompleteSignature          = "IncompleteSignatureException"
	IncorrectKey                 = "IncorrectKeyException"
	IncorrectKeyMaterial         = "IncorrectKeyMaterialException"
	InternalFailure              = "InternalFailure"
	InvalidAliasName             = "InvalidAliasNameException"
	InvalidArn                   = "InvalidArnException"
	InvalidCiphertext            = "InvalidCiphertextException"
	InvalidGrantID               = "InvalidGrantIdException"
	InvalidGrantToken            = "InvalidGrantTokenException"
	InvalidImportToken           = "InvalidImportTokenException"
	InvalidKeyUsage              = "InvalidKeyUsageException"
	InvalidMarker                = "InvalidMarkerException"
	InvalidSignature             = "InvalidSignatureException"
	Internal                     = "KMSInternalException"
	InvalidMac                   = "KMSInvalidMacException"
	InvalidSignatureVerification = "KMSInvalidSignatureException"
	InvalidState                 = "KMSInvalidStateException"
	KeyUnavailable               = "KeyUnavailableException"
	LimitExceeded                = "LimitExceededException"
	MalformedPolicyDocument      = "MalformedPolicyDocumentException"
	MissingAuthenticationToken   = "MissingAuthenticationTokenException"
	NotFound                     = "NotFoundException"
	NotAuthorized                = "NotAuthorizedException" // not modeled: AWS's answer to a reserved alias/aws/ name
	Serialization                = "SerializationException"
	Tag                          = "TagException"
	Throttling                   = "ThrottlingException"
	UnknownOperation             = "UnknownOperationException"
	UnrecognizedClient           = "UnrecognizedClientException"
	UnsupportedOperation         = "UnsupportedOperationException"
	Validation                   = "ValidationException"
	ServiceUnavailable           = "ServiceUnavailableException"
)

// Error is an AWS-shaped error: Code is the exception name, Message the text
// the client reads. Cause, if set, is for logs only and never reaches the wire.
type Error struct {
	Code    string
	Message string
	Cause   error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Is matches another *Error by Code, so errors.Is(err, kmserr.New(kmserr.NotFound, ""))
// works; tests usually prefer CodeOf.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New returns an error with the given exception code and formatted message.
func New(code, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Code: code, Message: format}
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internalf wraps an unexpected failure. The client sees a generic
// KMSInternalException; the cause stays in the log.
func Internalf(format string, args ...any) *Error {
	return &Error{Code: Internal, Message: "An internal error occurred.", Cause: fmt.Errorf(format, args...)}
}

// CodeOf returns the exception code the wire shows for err (see As).
func CodeOf(err error) string { return As(err).Code }

// As returns err as an *Error, turning any other error into a
// KMSInternalException that keeps it as the cause. An internal error
// caused by an unreachable store is AWS's dependency failure,
// DependencyTimeoutException, which clients retry.
func As(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: Internal, Message: "An internal error occurred.", Cause: err}
	}
	if e.Code == Internal && errors.Is(err, store.ErrUnavailable) {
		return &Error{Code: DependencyTimeout, Message: dependencyTimeoutMessage, Cause: err}
	}
	return e
}

// dependencyTimeoutMessage is AWS's description of the exception.
const dependencyTimeoutMessage = "The system timed out while trying to fulfill the request. You can retry the request."

// HTTPStatus is the status AWS sends with the exception: 500 for server
// faults, 403 for a request without credentials, 503 for unavailability, 400
// for everything else (AWS uses 400 even for modeled client errors).
func HTTPStatus(code string) int {
	switch code {
	case Internal, KeyUnavailable, DependencyTimeout, InternalFailure:
		return http.StatusInternalServerError
	case MissingAuthenticationToken:
		return http.StatusForbidden
	case ServiceUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}
