package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kmsd/kmsd/internal/kmserr"
)

func TestRejections(t *testing.T) {
	usEast1Only := func(r string) bool { return r == testRegion }
	expired := testStore()
	s := expired[testTempAKID]
	s.Expires = testNow.Add(-time.Second)
	expired[testTempAKID] = s

	for _, tc := range []struct {
		name    string
		creds   aws.Credentials
		service string
		region  string
		store   Credentials
		before  func(*http.Request) // before signing
		after   func(*http.Request) // after signing
		code    string
		msg     string
	}{
		{name: "wrong region", region: "eu-west-1", code: kmserr.InvalidSignature,
			msg: "Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{name: "malformed region", region: "US_EAST_1", code: kmserr.InvalidSignature,
			msg: "Credential should be scoped to a valid region, not 'US_EAST_1'. "},
		{name: "service s3", service: "s3", code: kmserr.InvalidSignature,
			msg: "Credential should be scoped to correct service: 'kms'. "},
		{name: "scope date differs from X-Amz-Date", after: rewriteAuth("/20260101/", "/20251231/"), code: kmserr.InvalidSignature,
			msg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20251231' != '20260101', from '20260101T001001Z'. "},
		{name: "terminator", after: rewriteAuth("/aws4_request", "/aws5_request"), code: kmserr.InvalidSignature,
			msg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "},
		{name: "region and service together", region: "eu-west-1", service: "s3", code: kmserr.InvalidSignature,
			msg: "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should be scoped to correct service: 'kms'. "},
		{name: "algorithm", after: rewriteAuth("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), code: kmserr.IncompleteSignature,
			msg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). "},
		{name: "SigV2 header", after: func(r *http.Request) { r.Header.Set("Authorization", "AWS "+testAKID+":c2ln") },
			code: kmserr.IncompleteSignature,
			msg:  "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{name: "no Signature parameter", after: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
		}, code: kmserr.IncompleteSignature, msg: "Authorization header requires 'Signature' parameter."},
		{name: "no date header", after: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, code: kmserr.IncompleteSignature,
			msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{name: "bad date", after: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-01-01T00:10:01Z") }, code: kmserr.IncompleteSignature,
			msg: "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:10:01Z'. See http://en.wikipedia.org/wiki/ISO_8601"},
		{name: "four-element credential", after: rewriteAuth("/kms/aws4_request", "/kms"), code: kmserr.IncompleteSignature,
			msg: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '" + testAKID + "/20260101/us-east-1/kms'"},
		{name: "pair without equal sign", after: rewriteAuth("SignedHeaders=", "SignedHeaders"), code: kmserr.IncompleteSignature},
		{name: "duplicate parameter", after: rewriteAuth(", Signature=", ", Credential=x, Signature="), code: kmserr.IncompleteSignature},
		{name: "unsorted SignedHeaders", after: rewriteAuth("content-length;content-type;host", "content-type;content-length;host"), code: kmserr.IncompleteSignature},
		{name: "unknown access key", creds: aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: testSecretKey},
			code: kmserr.UnrecognizedClient, msg: "The security token included in the request is invalid."},
		{name: "empty access key", after: rewriteAuth("Credential="+testAKID, "Credential="), code: kmserr.UnrecognizedClient},
		{name: "credential store fails", store: failingStore{}, code: kmserr.Internal},
		{name: "no Authorization header", after: func(r *http.Request) { r.Header.Del("Authorization") },
			code: kmserr.MissingAuthenticationToken, msg: "Missing Authentication Token"},
		{name: "two Authorization headers", after: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) },
			code: kmserr.IncompleteSignature},
		{name: "presigned query string", after: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=00"
		}, code: kmserr.IncompleteSignature},
		{name: "SignedHeaders without host", after: rewriteAuth(";host;", ";"), code: kmserr.InvalidSignature,
			msg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "SignedHeaders without x-amz-date", after: rewriteAuth(";x-amz-date;", ";"), code: kmserr.InvalidSignature,
			msg: "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "SignedHeaders without x-amz-target",
			before: func(r *http.Request) { r.Header.Del("X-Amz-Target") },
			after:  func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Encrypt") },
			code:   kmserr.InvalidSignature, msg: "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "SignedHeaders without content-type",
			before: func(r *http.Request) { r.Header.Del("Content-Type") },
			after:  func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1") },
			code:   kmserr.InvalidSignature, msg: "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "unsigned X-Amz-Security-Token", creds: sessionCreds(""),
			after: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", testToken) },
			code:  kmserr.InvalidSignature, msg: "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "expired session", creds: sessionCreds(testToken), store: expired,
			code: kmserr.ExpiredToken, msg: "The security token included in the request is expired"},
		{name: "wrong session token", creds: sessionCreds("session-token-of-someone-else"),
			code: kmserr.UnrecognizedClient, msg: "The security token included in the request is invalid"},
		{name: "session token missing", creds: sessionCreds(""),
			code: kmserr.UnrecognizedClient, msg: "The security token included in the request is invalid"},
		{name: "session token on a long-term key", creds: aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecretKey, SessionToken: testToken},
			code: kmserr.UnrecognizedClient, msg: "The security token included in the request is invalid"},
		{name: "UNSIGNED-PAYLOAD", before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			code: kmserr.InvalidSignature},
		{name: "streaming payload", before: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		}, code: kmserr.InvalidSignature},
		{name: "declared payload hash differs", before: func(r *http.Request) {
			sum := sha256.Sum256([]byte("other"))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		}, code: kmserr.InvalidSignature,
			msg: "The provided 'x-amz-content-sha256' header does not match what was computed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store
			if store == nil {
				store = testStore()
			}
			v := newVerifier(store, testNow)
			v.Regions = usEast1Only
			creds := tc.creds
			if creds.AccessKeyID == "" {
				creds = longTermCreds()
			}
			service, region := tc.service, tc.region
			if service == "" {
				service = "kms"
			}
			if region == "" {
				region = testRegion
			}
			req := kmsRequest(t, "Encrypt", encryptBody)
			if tc.before != nil {
				tc.before(req)
			}
			sign(t, req, encryptBody, creds, service, region, testNow)
			if tc.after != nil {
				tc.after(req)
			}
			_, err := v.Verify(context.Background(), req, []byte(encryptBody))
			wantErr(t, err, tc.code, tc.msg)
		})
	}
}

func TestUnsignedDateHeader(t *testing.T) {
	// A request dated only by Date must sign "date".
	v := newVerifier(testStore(), testNow)
	req := kmsRequest(t, "ListKeys", "{}")
	sign(t, req, "{}", longTermCreds(), "kms", testRegion, testNow)
	req.Header.Del("X-Amz-Date")
	req.Header.Set("Date", testNow.Format(http.TimeFormat))
	h := req.Header.Get("Authorization")
	h = strings.Replace(h, ";x-amz-date;", ";", 1)
	req.Header.Set("Authorization", h)
	_, err := v.Verify(context.Background(), req, []byte("{}"))
	wantErr(t, err, kmserr.InvalidSignature, "'Date' must be a 'SignedHeader' in the AWS Authorization.")
}

func TestDefaultServiceIsKMS(t *testing.T) {
	v := &Verifier{Credentials: testStore(), Now: func() time.Time { return testNow }}
	if _, err := v.Verify(context.Background(), signedEncrypt(t, longTermCreds()), []byte(encryptBody)); err != nil {
		t.Fatal(err)
	}
	v.Services = []string{"iam", "sts"}
	_, err := v.Verify(context.Background(), signedEncrypt(t, longTermCreds()), []byte(encryptBody))
	wantErr(t, err, kmserr.InvalidSignature, "Credential should be scoped to correct service: 'iam'. ")
}
