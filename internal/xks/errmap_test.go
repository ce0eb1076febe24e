package xks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

// TestProxyErrorMapping has the fake proxy answer each errorName of the
// spec with its HTTP status and checks the exception every KMS operation
// family returns and the ConnectionErrorCode a connect records. The
// expectations are the spec's "KMS Considerations" table and the AWS KMS
// developer guide's troubleshooting pages.
func TestProxyErrorMapping(t *testing.T) {
	const (
		kis  = "KMSInvalidStateException"
		ckis = "CustomKeyStoreInvalidStateException"
	)
	cases := []struct {
		name          string
		status        int
		manage, ckey  string
		connect, text string
	}{
		{"ValidationException", 400, "XksProxyInvalidResponseException", ckis, "XKS_PROXY_INVALID_RESPONSE", "cannot interpret the response"},
		{"InvalidStateException", 400, "XksProxyUriUnreachableException", "XksKeyInvalidConfigurationException", "XKS_PROXY_NOT_REACHABLE", "is not enabled in the external key manager"},
		{"InvalidCiphertextException", 400, "XksProxyInvalidResponseException", ckis, "XKS_PROXY_INVALID_RESPONSE", "ciphertext or encryption context is corrupted"},
		{"InvalidKeyUsageException", 400, "XksProxyInvalidResponseException", "XksKeyInvalidConfigurationException", "XKS_PROXY_INVALID_RESPONSE", "does not support the requested operation. Enable the operation"},
		{"AuthenticationFailedException", 401, "XksProxyIncorrectAuthenticationCredentialException", ckis, "INVALID_CREDENTIALS", "could not authenticate AWS KMS"},
		{"AccessDeniedException", 403, "XksProxyInvalidConfigurationException", ckis, "XKS_PROXY_ACCESS_DENIED", "denied access to the operation"},
		{"KeyNotFoundException", 404, "XksProxyInvalidResponseException", "XksKeyNotFoundException", "XKS_PROXY_INVALID_RESPONSE", "was not found in its external key manager"},
		{"InvalidUriPathException", 404, "XksProxyInvalidConfigurationException", ckis, "XKS_PROXY_INVALID_CONFIGURATION", "invalid URI path"},
		{"ThrottlingException", 429, "XksProxyUriUnreachableException", ckis, "XKS_PROXY_NOT_REACHABLE", "very high request rate"},
		{"UnsupportedOperationException", 501, "XksProxyInvalidResponseException", ckis, "XKS_PROXY_INVALID_RESPONSE", "does not support the requested operation. If you see"},
		{"DependencyTimeoutException", 503, "XksProxyUriUnreachableException", ckis, "XKS_PROXY_TIMED_OUT", "did not respond to the request in the time allotted"},
		{"InternalException", 500, "XksProxyInvalidResponseException", ckis, "XKS_PROXY_NOT_REACHABLE", "cannot communicate with the external key manager"},
	}
	if len(cases) != len(specStatus) {
		t.Fatalf("%d cases for %d errorNames", len(cases), len(specStatus))
	}
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.SetAnswer(func(string) (int, string, bool) {
				return tc.status, fmt.Sprintf(`{"errorName":%q,"errorMessage":"detail\nfor the log \u00e9"}`, tc.name), true
			})
			_, err := c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("pt"), nil)
			e := asError(t, err)
			if e.Kind != KindProxy || e.Name != tc.name || e.Status != tc.status || e.Transport {
				t.Fatalf("got %+v", e)
			}
			if e.Message != "detail?for the log ??" {
				t.Fatalf("errorMessage not sanitized for logs: %q", e.Message)
			}
			want := map[string]string{"CreateCustomKeyStore": tc.manage, "UpdateCustomKeyStore": tc.manage,
				"CreateKey": tc.ckey, "Encrypt": kis, "Decrypt": kis, "ReEncrypt": kis, "GenerateDataKey": kis,
				"GenerateDataKeyWithoutPlaintext": kis}
			for op, exc := range want {
				name, msg := e.KMSException(op)
				if name != exc || !strings.Contains(msg, tc.text) {
					t.Errorf("%s: %s %q, want %s containing %q", op, name, msg, exc, tc.text)
				}
				if strings.Contains(msg, "detail") {
					t.Errorf("%s: the proxy's errorMessage reached the KMS message", op)
				}
				if k := e.KMSError(op); k.Code != exc || k.Message != msg || k.Cause != e {
					t.Errorf("%s: KMSError = %+v", op, k)
				}
			}
			if code := e.ConnectionErrorCode(); code != tc.connect {
				t.Errorf("ConnectionErrorCode = %s, want %s", code, tc.connect)
			}
		})
	}
}

func TestConnectionErrorCodeOf(t *testing.T) {
	if got := ConnectionErrorCodeOf(fmt.Errorf("connect: %w", &Error{Kind: KindTLS})); got != "XKS_PROXY_INVALID_TLS_CONFIGURATION" {
		t.Errorf("wrapped TLS error: %s", got)
	}
	if got := ConnectionErrorCodeOf(context.Canceled); got != "INTERNAL_ERROR" {
		t.Errorf("cancelled: %s", got)
	}
	if got := ConnectionErrorCodeOf(errors.Join(ErrInvalidInput)); got != "INTERNAL_ERROR" {
		t.Errorf("invalid input: %s", got)
	}
}
