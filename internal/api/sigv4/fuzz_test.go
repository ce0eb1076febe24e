package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// FuzzParseAuthorization: the parser never panics, and whatever it accepts
// is well formed.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=00",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=, Signature=",
		"AWS4-HMAC-SHA256 Credential",
		"AWS4-HMAC-SHA256",
		"AWS AKID:c2ln",
		"AWS4-ECDSA-P256-SHA256 Credential=a",
		"",
		" , ,, =",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, header string, hasDate bool) {
		a, err := parseAuthorization(header, hasDate)
		if err != nil {
			var e *kmserr.Error
			if !errors.As(err, &e) || e.Code != kmserr.IncompleteSignature {
				t.Fatalf("error %v is not IncompleteSignatureException", err)
			}
			if len(e.Message) > 1024 {
				t.Fatalf("message of %d bytes", len(e.Message))
			}
			return
		}
		if !hasDate {
			t.Fatal("accepted without a date header")
		}
		if !slices.IsSorted(a.SignedHeaders) || len(a.SignedHeaders) == 0 {
			t.Fatalf("SignedHeaders %q", a.SignedHeaders)
		}
		if strings.Join(a.SignedHeaders, ";") != a.SignedHeadersRaw {
			t.Fatalf("SignedHeaders %q from %q", a.SignedHeaders, a.SignedHeadersRaw)
		}
		if strings.Join([]string{a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator}, "/") != a.Credential {
			t.Fatalf("credential %q split as %+v", a.Credential, a)
		}
	})
}

// FuzzVerify: Verify never panics, always answers with a *kmserr.Error, and
// accepts nothing for a key whose secret the input cannot know.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential="+testAKID+"/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00",
		"20260101T001001Z", "/", "", "TrentService.Encrypt", "", []byte(encryptBody))
	f.Add("AWS4-HMAC-SHA256 Credential="+testTempAKID+"/20260101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=zz",
		"20260101T001001Z", "//a/../b/%zz", "a=%zz&b", "", testToken, []byte{})
	f.Add("", "", "/", "X-Amz-Signature=1", "", "", []byte(nil))
	store := testStore()
	f.Fuzz(func(t *testing.T, authz, date, path, query, target, token string, body []byte) {
		v := newVerifier(store, testNow)
		r := &http.Request{
			Method:     http.MethodPost,
			URL:        &url.URL{Path: path, RawQuery: query},
			RequestURI: path,
			Host:       "kms.us-east-1.amazonaws.com",
			Header:     http.Header{},
		}
		if query != "" {
			r.RequestURI += "?" + query
		}
		for k, val := range map[string]string{"Authorization": authz, "X-Amz-Date": date, "X-Amz-Target": target, "X-Amz-Security-Token": token} {
			if val != "" {
				r.Header.Set(k, val)
			}
		}
		res, err := v.Verify(context.Background(), r, body)
		if err == nil {
			t.Fatalf("forged request accepted: %+v", res)
		}
		var e *kmserr.Error
		if !errors.As(err, &e) || e.Code == kmserr.Internal {
			t.Fatalf("unexpected error %v", err)
		}
		if strings.Contains(e.Message, testSecretKey) {
			t.Fatal("secret in message")
		}
	})
}

// A zero clock skew still means the default window.
func TestZeroSkewMeansDefault(t *testing.T) {
	v := &Verifier{Credentials: testStore(), Now: func() time.Time { return testNow }}
	if err := v.checkClock(testNow.Add(-4 * time.Minute)); err != nil {
		t.Fatal(err)
	}
}
