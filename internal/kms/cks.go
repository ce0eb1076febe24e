package kms

import (
	"context"
	"errors"
	"fmt"
)

// Custom key stores (AWS_CLOUDHSM and EXTERNAL_KEY_STORE) reach what backs
// them through these small interfaces; cmd/kmsd wires PKCS#11 tokens and XKS
// proxy clients into them, tests wire fakes. kms keeps the AWS semantics
// (states, exceptions, messages) and the backends only translate.

// KeyStoreBackends are what custom key stores can be connected to.
type KeyStoreBackends struct {
	// HSM finds the PKCS#11 token a CloudHsmClusterId names; nil: none configured.
	HSM HSMClusters
	// XKS opens clients of external key store proxies; nil: external key
	// stores cannot be created.
	XKS XKSDialer
}

// HSMClusters are the PKCS#11 tokens kmsd is configured with, by the
// CloudHsmClusterId that names each.
type HSMClusters interface {
	Cluster(id string) (HSMCluster, bool)
}

// HSMCluster is one configured token. It belongs to one account, as an AWS
// CloudHSM cluster does: only that account's stores may use it.
type HSMCluster interface {
	// Account is the AWS account id the cluster belongs to.
	Account() string
	// TrustAnchor is the configured trust anchor certificate (PEM), or ""
	// when none is configured and any is accepted.
	TrustAnchor() string
	// Login opens a session as the token's user with pin (the store's
	// KeyStorePassword).
	Login(pin []byte) (HSMToken, error)
}

// HSMToken is a logged-in token holding the stores' non-extractable AES keys,
// each labelled with its KMS key id.
type HSMToken interface {
	GenerateKey(label string) error
	DeleteKey(label string) error
	// Encrypt returns iv|ciphertext|tag under the labelled key.
	Encrypt(label string, plaintext, aad []byte) ([]byte, error)
	Decrypt(label string, sealed, aad []byte) ([]byte, error)
	Ping() error
	Close()
}

// XKSDialer makes a client of one external key store proxy.
type XKSDialer interface {
	Dial(cfg XKSProxyConfig) (XKSProxy, error)
}

// XKSProxyConfig is where and how to reach a proxy.
type XKSProxyConfig struct {
	Endpoint, Path          string
	AccessKeyID             string
	SecretAccessKey         []byte
	Region                  string
	VpcEndpointServiceName  string
	VpcEndpointServiceOwner string
}

// XKSProxy is a client of an external key store proxy (XKS Proxy API).
type XKSProxy interface {
	Health(ctx context.Context, md XKSRequestMetadata) error
	Metadata(ctx context.Context, keyID string, md XKSRequestMetadata) (*XKSKeyMetadata, error)
	// Encrypt returns an opaque sealed form Decrypt accepts.
	Encrypt(ctx context.Context, keyID string, md XKSRequestMetadata, plaintext, aad []byte) ([]byte, error)
	Decrypt(ctx context.Context, keyID string, md XKSRequestMetadata, sealed, aad []byte) ([]byte, error)
	Close()
}

// XKSRequestMetadata is the requestMetadata KMS sends with every proxy call.
type XKSRequestMetadata struct {
	AWSPrincipalArn string
	KMSKeyArn       string
	KMSOperation    string
	KMSRequestID    string
	KMSViaService   string
}

// XKSKeyMetadata is what a proxy says about an external key.
type XKSKeyMetadata struct {
	KeySpec   string
	KeyUsage  []string
	KeyStatus string
}

// Failure says what went wrong in a backend, in the terms AWS reports
// (ConnectionErrorCode at connect, an exception and message on use).
type Failure int

// Failures a backend reports by wrapping its error in a *BackendError.
const (
	FailInternal             Failure = iota
	FailCredentials                  // wrong PIN; proxy AuthenticationFailedException
	FailLockedOut                    // PIN locked
	FailClusterNotFound              // module or token missing
	FailUnreachable                  // no TCP connection
	FailTLS                          // no TLS connection
	FailTimeout                      // no answer in time
	FailThrottled                    // proxy ThrottlingException
	FailInvalidResponse              // malformed answer; proxy ValidationException or InternalException
	FailInvalidConfiguration         // proxy InvalidUriPathException
	FailKeyNotFound                  // key object or external key missing
	FailKeyDisabled                  // proxy InvalidStateException
	FailKeyUsage                     // proxy InvalidKeyUsageException
	FailAccessDenied                 // proxy AccessDeniedException
	FailInvalidCiphertext            // the backend could not authenticate a ciphertext
	FailUnsupported                  // proxy UnsupportedOperationException
	FailKeyExists                    // a key object with the label exists already
)

// BackendError is a backend failure with its Failure kind. Err is for logs
// only; clients see AWS's messages.
type BackendError struct {
	Failure Failure
	Err     error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("custom key store backend (%d): %v", e.Failure, e.Err)
}
func (e *BackendError) Unwrap() error { return e.Err }

// failureOf classifies an error from a backend.
func failureOf(err error) Failure {
	var be *BackendError
	if errors.As(err, &be) {
		return be.Failure
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return FailTimeout
	}
	return FailInternal
}

// connectionErrorCode is the ConnectionErrorCode AWS reports for a failed
// connection attempt of a store type.
func connectionErrorCode(typ string, f Failure) string {
	if typ == typeCloudHSM {
		switch f {
		case FailCredentials:
			return "INVALID_CREDENTIALS"
		case FailLockedOut:
			return "USER_LOCKED_OUT"
		case FailClusterNotFound:
			return "CLUSTER_NOT_FOUND"
		case FailUnreachable, FailTimeout, FailTLS:
			return "NETWORK_ERRORS"
		}
		return "INTERNAL_ERROR"
	}
	switch f {
	case FailCredentials:
		return "INVALID_CREDENTIALS"
	case FailAccessDenied:
		return "XKS_PROXY_ACCESS_DENIED"
	case FailUnreachable, FailClusterNotFound:
		return "XKS_PROXY_NOT_REACHABLE"
	case FailTimeout, FailThrottled:
		return "XKS_PROXY_TIMED_OUT"
	case FailTLS:
		return "XKS_PROXY_INVALID_TLS_CONFIGURATION"
	case FailInvalidConfiguration:
		return "XKS_PROXY_INVALID_CONFIGURATION"
	case FailInvalidResponse, FailUnsupported, FailKeyDisabled:
		return "XKS_PROXY_INVALID_RESPONSE"
	}
	return "INTERNAL_ERROR"
}

// xksMessage is the message AWS gives for a proxy failure, whatever the
// exception (XKS Proxy API specification, "KMS considerations for error codes").
func xksMessage(f Failure) string {
	switch f {
	case FailKeyDisabled:
		return "The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request."
	case FailInvalidCiphertext:
		return "The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid."
	case FailKeyUsage:
		return "The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again."
	case FailCredentials:
		return "The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary."
	case FailAccessDenied:
		return "The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again."
	case FailKeyNotFound:
		return "The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID."
	case FailInvalidConfiguration:
		return "The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary."
	case FailUnsupported:
		return "The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator."
	case FailTimeout:
		return "The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator."
	case FailThrottled:
		return "The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store."
	case FailUnreachable, FailClusterNotFound:
		return "AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore."
	case FailTLS:
		return "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate."
	case FailInternal:
		return "The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available."
	}
	return "AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator."
}

// xksStoreException is the exception Create/UpdateCustomKeyStore answer
// for a proxy that failed its connectivity test.
func xksStoreException(f Failure) string {
	switch f {
	case FailCredentials:
		return "XksProxyIncorrectAuthenticationCredentialException"
	case FailInvalidConfiguration:
		return "XksProxyInvalidConfigurationException"
	case FailUnreachable, FailClusterNotFound, FailTLS, FailTimeout, FailThrottled:
		return "XksProxyUriUnreachableException"
	}
	return "XksProxyInvalidResponseException"
}
