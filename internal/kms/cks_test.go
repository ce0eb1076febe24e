package kms

import (
	"errors"
	"testing"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// TestXKSFailureTable pins the XKS Proxy API specification's table "KMS
// considerations for error codes": for each proxy failure, the exception of
// Create/UpdateCustomKeyStore, of CreateKey and of a cryptographic
// operation, the ConnectionErrorCode of a failed connection, and a message
// shared by all of them.
func TestXKSFailureTable(t *testing.T) {
	xks := &keyStoreRecord{ID: "cks-1234567890abcdef0", Type: typeXKS}
	k := &cachedKey{rec: &keyRecord{KeyID: "k", CustomKeyStoreID: xks.ID}, arn: "arn"}
	for _, c := range []struct {
		name              string
		f                 Failure
		store, createKey  string
		connect, msgStart string
	}{
		{"ValidationException", FailInvalidResponse, "XksProxyInvalidResponseException", errKeyStoreInvalidState, "XKS_PROXY_INVALID_RESPONSE", "AWS KMS cannot interpret the response"},
		{"InvalidStateException", FailKeyDisabled, "XksProxyInvalidResponseException", errXksKeyInvalidConfig, "XKS_PROXY_INVALID_RESPONSE", "The external key associated with this KMS key in an external key store is not enabled"},
		{"InvalidCiphertextException", FailInvalidCiphertext, "XksProxyInvalidResponseException", errKeyStoreInvalidState, "INTERNAL_ERROR", "The external key store proxy rejected the request because the specified ciphertext"},
		{"InvalidKeyUsageException", FailKeyUsage, "XksProxyInvalidResponseException", errXksKeyInvalidConfig, "INTERNAL_ERROR", "The external key associated with this KMS key in an external key store does not support"},
		{"AuthenticationFailedException", FailCredentials, "XksProxyIncorrectAuthenticationCredentialException", errKeyStoreInvalidState, "INVALID_CREDENTIALS", "The external key store proxy rejected the request because it could not authenticate AWS KMS."},
		{"AccessDeniedException", FailAccessDenied, "XksProxyInvalidResponseException", kmserr.InvalidState, "XKS_PROXY_ACCESS_DENIED", "The external key store proxy denied access"},
		{"KeyNotFoundException", FailKeyNotFound, "XksProxyInvalidResponseException", errXksKeyNotFound, "INTERNAL_ERROR", "The external key associated with this KMS key in an external key store was not found"},
		{"InvalidUriPathException", FailInvalidConfiguration, "XksProxyInvalidConfigurationException", errKeyStoreInvalidState, "XKS_PROXY_INVALID_CONFIGURATION", "The external key store proxy rejected the request because of an invalid URI path."},
		{"UnsupportedOperationException", FailUnsupported, "XksProxyInvalidResponseException", errKeyStoreInvalidState, "XKS_PROXY_INVALID_RESPONSE", "The external key store proxy rejected the request because it does not support"},
		{"DependencyTimeoutException", FailTimeout, "XksProxyUriUnreachableException", errKeyStoreInvalidState, "XKS_PROXY_TIMED_OUT", "The external key store proxy did not respond"},
		{"ThrottlingException", FailThrottled, "XksProxyUriUnreachableException", errKeyStoreInvalidState, "XKS_PROXY_TIMED_OUT", "The external key store proxy rejected the request due to a very high request rate."},
		{"InternalException", FailInternal, "XksProxyInvalidResponseException", errKeyStoreInvalidState, "INTERNAL_ERROR", "The external key store proxy rejected the request because it cannot communicate with the external key manager."},
		{"no TCP connection", FailUnreachable, "XksProxyUriUnreachableException", errKeyStoreInvalidState, "XKS_PROXY_NOT_REACHABLE", "AWS KMS cannot communicate with the external key store proxy."},
		{"no TLS connection", FailTLS, "XksProxyUriUnreachableException", errKeyStoreInvalidState, "XKS_PROXY_INVALID_TLS_CONFIGURATION", "AWS KMS cannot establish a TLS connection"},
	} {
		err := &BackendError{Failure: c.f, Err: errors.New(c.name)}
		if got := xksStoreException(c.f); got != c.store {
			t.Errorf("%s: CreateCustomKeyStore answers %s, want %s", c.name, got, c.store)
		}
		if got := kmserr.CodeOf(createKeyError(xks, err)); got != c.createKey {
			t.Errorf("%s: CreateKey answers %s, want %s", c.name, got, c.createKey)
		}
		use := kmserr.As((&Service{}).useError(k, xks, err))
		if use.Code != kmserr.InvalidState || len(use.Message) < len(c.msgStart) || use.Message[:len(c.msgStart)] != c.msgStart {
			t.Errorf("%s: a cryptographic operation answers %s %q, want KMSInvalidStateException %q…", c.name, use.Code, use.Message, c.msgStart)
		}
		if !errors.Is(use, err) {
			t.Errorf("%s: the backend failure is not kept for the log", c.name)
		}
		if got := connectionErrorCode(typeXKS, c.f); got != c.connect {
			t.Errorf("%s: ConnectionErrorCode %s, want %s", c.name, got, c.connect)
		}
	}
}

// TestCloudHSMConnectionErrorCodes: token failures become the
// ConnectionErrorCodes AWS reports for a CloudHSM key store.
func TestCloudHSMConnectionErrorCodes(t *testing.T) {
	for f, want := range map[Failure]string{
		FailCredentials: "INVALID_CREDENTIALS", FailLockedOut: "USER_LOCKED_OUT", FailClusterNotFound: "CLUSTER_NOT_FOUND",
		FailUnreachable: "NETWORK_ERRORS", FailInternal: "INTERNAL_ERROR",
	} {
		if got := connectionErrorCode(typeCloudHSM, f); got != want {
			t.Errorf("failure %d: %s, want %s", f, got, want)
		}
	}
}
