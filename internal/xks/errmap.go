package xks

import (
	"errors"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// KMS exception names for keys in an external key store (KMS API model).
const (
	ExcKMSInvalidState                  = "KMSInvalidStateException"
	ExcCustomKeyStoreInvalidState       = "CustomKeyStoreInvalidStateException"
	ExcXksProxyUriUnreachable           = "XksProxyUriUnreachableException"
	ExcXksProxyInvalidResponse          = "XksProxyInvalidResponseException"
	ExcXksProxyInvalidConfiguration     = "XksProxyInvalidConfigurationException"
	ExcXksProxyIncorrectAuthCredential  = "XksProxyIncorrectAuthenticationCredentialException"
	ExcXksKeyInvalidConfiguration       = "XksKeyInvalidConfigurationException"
	ExcXksKeyNotFound                   = "XksKeyNotFoundException"
	ConnInvalidCredentials              = "INVALID_CREDENTIALS"
	ConnXksProxyAccessDenied            = "XKS_PROXY_ACCESS_DENIED"
	ConnXksProxyInvalidConfiguration    = "XKS_PROXY_INVALID_CONFIGURATION"
	ConnXksProxyInvalidResponse         = "XKS_PROXY_INVALID_RESPONSE"
	ConnXksProxyInvalidTLSConfiguration = "XKS_PROXY_INVALID_TLS_CONFIGURATION"
	ConnXksProxyNotReachable            = "XKS_PROXY_NOT_REACHABLE"
	ConnXksProxyTimedOut                = "XKS_PROXY_TIMED_OUT"
	ConnInternalError                   = "INTERNAL_ERROR"
)

// Messages AWS KMS uses for external key store failures that the KMS side
// detects itself rather than learns from a proxy error.
const (
	// MsgProxyInvalidCiphertext: the proxy's Decrypt answer did not decrypt
	// (the inner AWS KMS layer rejected what the proxy returned).
	MsgProxyInvalidCiphertext = "The ciphertext that the external key store proxy submitted for decryption, or the encryption context, is corrupted, missing, or otherwise invalid."
	// MsgNotConnected: the custom key store is not CONNECTED.
	MsgNotConnected = "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again."
)

// outcome is one row of the mapping: the exception a KMS operation family
// returns, the ConnectionErrorCode a failed connect records, and the
// message, which AWS keeps the same across operations.
type outcome struct {
	manage    string // CreateCustomKeyStore, UpdateCustomKeyStore
	createKey string // CreateKey
	crypto    string // Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, and any other
	connect   string // ConnectionErrorCode after ConnectCustomKeyStore
	message   string
}

const msgCannotInterpret = "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator."

// byName maps each errorName in the spec to the KMS outcome, from the
// spec's "KMS Considerations" table under "Error codes" and the AWS KMS
// developer guide's "Troubleshooting external key stores". Where neither
// names an operation family (marked "inferred"), the closest documented
// outcome is used.
var byName = map[string]outcome{
	"ValidationException": {ExcXksProxyInvalidResponse, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse, msgCannotInterpret},
	// manage and connect inferred: the proxy refuses the key store itself.
	"InvalidStateException": {ExcXksProxyUriUnreachable, ExcXksKeyInvalidConfiguration, ExcKMSInvalidState,
		ConnXksProxyNotReachable,
		"The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request."},
	// Decrypt only in the spec; other families inferred.
	"InvalidCiphertextException": {ExcXksProxyInvalidResponse, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse,
		"The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid."},
	// manage and connect inferred.
	"InvalidKeyUsageException": {ExcXksProxyInvalidResponse, ExcXksKeyInvalidConfiguration, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse,
		"The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again."},
	"AuthenticationFailedException": {ExcXksProxyIncorrectAuthCredential, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnInvalidCredentials,
		"The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary."},
	// CreateKey per the developer guide (CreateKey does not model
	// KMSInvalidStateException); manage inferred.
	"AccessDeniedException": {ExcXksProxyInvalidConfiguration, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyAccessDenied,
		"The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again."},
	// manage and connect inferred.
	"KeyNotFoundException": {ExcXksProxyInvalidResponse, ExcXksKeyNotFound, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse,
		"The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID."},
	"InvalidUriPathException": {ExcXksProxyInvalidConfiguration, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidConfiguration,
		"The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary."},
	// The spec's CreateKey entry (XksKeyInvalidResponseException) is not a
	// modeled exception; the developer guide gives
	// CustomKeyStoreInvalidStateException. manage and connect inferred.
	"UnsupportedOperationException": {ExcXksProxyInvalidResponse, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse,
		"The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator."},
	"DependencyTimeoutException": {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyTimedOut,
		"The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator."},
	// connect inferred.
	"ThrottlingException": {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyNotReachable,
		"The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store."},
	// connect inferred from XKS_PROXY_NOT_REACHABLE's "verify that your
	// external key manager instances are operating properly".
	"InternalException": {ExcXksProxyInvalidResponse, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyNotReachable,
		"The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available."},
}

// byKind maps the failures KMS detects itself.
var byKind = map[Kind]outcome{
	KindMalformed: {ExcXksProxyInvalidResponse, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidResponse, msgCannotInterpret},
	KindUnreachable: {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyNotReachable,
		"AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external key store."},
	KindTLS: {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyInvalidTLSConfiguration,
		"AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate."},
	KindTimeout: {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyTimedOut,
		"AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator."},
	KindUnhealthy: {ExcXksProxyUriUnreachable, ExcCustomKeyStoreInvalidState, ExcKMSInvalidState,
		ConnXksProxyNotReachable,
		"The external key store proxy is in an unhealthy state. If you see this message repeatedly, notify your external key store proxy administrator."},
}

func (e *Error) outcome() outcome {
	if e.Kind == KindProxy {
		if o, ok := byName[e.Name]; ok {
			return o
		}
	}
	if o, ok := byKind[e.Kind]; ok {
		return o
	}
	return byKind[KindMalformed]
}

// KMSException returns the exception and message AWS KMS returns from the
// KMS operation op (CreateCustomKeyStore, UpdateCustomKeyStore, CreateKey,
// or a cryptographic operation such as Encrypt or Decrypt) when a proxy
// call fails with e. The proxy's own errorMessage is never part of it.
func (e *Error) KMSException(op string) (name, message string) {
	o := e.outcome()
	switch op {
	case "CreateCustomKeyStore", "UpdateCustomKeyStore":
		return o.manage, o.message
	case "CreateKey":
		return o.createKey, o.message
	}
	return o.crypto, o.message
}

// ConnectionErrorCode is the ConnectionErrorCode a custom key store records
// when ConnectCustomKeyStore's GetHealthStatus call fails with e.
func (e *Error) ConnectionErrorCode() string { return e.outcome().connect }

// KMSError is KMSException as the typed error kms returns; e stays the
// cause, for logs only.
func (e *Error) KMSError(op string) *kmserr.Error {
	name, msg := e.KMSException(op)
	return &kmserr.Error{Code: name, Message: msg, Cause: e}
}

// ConnectionErrorCodeOf is the ConnectionErrorCode for any error a connect
// attempt's Health call returned: the table's code for an *Error, and
// INTERNAL_ERROR for anything else (a refused input, a cancelled caller).
func ConnectionErrorCodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ConnectionErrorCode()
	}
	return ConnInternalError
}
