package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/sdkhttp"
	"github.com/kmsd/kmsd/internal/secret"
)

const (
	testAKID      = "AKIAKMSDTEST0000001"
	testTempAKID  = "ASIAKMSDTEST0000002"
	testSecretKey = "canary-secret-wJalrXUtnFEMI-K7MDENG"
	testToken     = "session-token-for-ASIAKMSDTEST0000002"
	testRegion    = "us-east-1"
	encryptBody   = `{"KeyId":"alias/app","Plaintext":"aGVsbG8="}`
)

// testNow is the server clock in most tests.
var testNow = time.Date(2026, 1, 1, 0, 10, 1, 0, time.UTC)

// credStore is a map-backed Credentials.
type credStore map[string]Secret

func (c credStore) SigningSecret(_ context.Context, akid string) (Secret, error) {
	s, ok := c[akid]
	if !ok {
		return Secret{}, ErrUnknownAccessKey
	}
	return s, nil
}

type failingStore struct{}

func (failingStore) SigningSecret(context.Context, string) (Secret, error) {
	return Secret{}, errors.New("store is sealed")
}

func testStore() credStore {
	return credStore{
		testAKID:     {Key: secret.Bytes(testSecretKey)},
		testTempAKID: {Key: secret.Bytes(testSecretKey + "-temp"), SessionToken: testToken, Expires: testNow.Add(time.Hour)},
	}
}

func newVerifier(store Credentials, now time.Time) *Verifier {
	return &Verifier{
		Credentials: store,
		Now:         func() time.Time { return now },
		Services:    []string{"kms"},
	}
}

func longTermCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecretKey}
}

func sessionCreds(token string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testTempAKID, SecretAccessKey: testSecretKey + "-temp", SessionToken: token}
}

// kmsRequest builds an awsJson1_1 KMS request as the SDK sends it.
func kmsRequest(t testing.TB, op, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	return req
}

// sign signs req with aws-sdk-go-v2's signer.
func sign(t testing.TB, req *http.Request, body string, creds aws.Credentials, service, region string, at time.Time) {
	t.Helper()
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
}

func signedEncrypt(t testing.TB, creds aws.Credentials) *http.Request {
	t.Helper()
	req := kmsRequest(t, "Encrypt", encryptBody)
	sign(t, req, encryptBody, creds, "kms", testRegion, testNow)
	return req
}

// wantErr checks the exception name and, when msg is not empty, the exact
// message.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *kmserr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *kmserr.Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%q), want %s", e.Code, e.Message, code)
	}
	if msg != "" && e.Message != msg {
		t.Fatalf("message = %q\nwant      %q", e.Message, msg)
	}
	if strings.Contains(e.Error(), testSecretKey) || strings.Contains(fmt.Sprintf("%+v", e.Cause), testSecretKey) {
		t.Fatalf("error leaks the secret: %v", e)
	}
}

func TestSDKSignedRequestsVerify(t *testing.T) {
	v := newVerifier(testStore(), testNow)
	for _, tc := range []struct {
		name  string
		creds aws.Credentials
		path  string
	}{
		{"long-term", longTermCreds(), "/"},
		{"session", sessionCreds(testToken), "/"},
		{"query and odd path", longTermCreds(), "/a%20b/c+d/?z=1&a=%2F&a=0&empty="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsRequest(t, "Encrypt", encryptBody)
			u, err := req.URL.Parse(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			req.URL = u
			sign(t, req, encryptBody, tc.creds, "kms", testRegion, testNow)
			res, err := v.Verify(context.Background(), req, []byte(encryptBody))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Result{AccessKeyID: tc.creds.AccessKeyID, Region: testRegion, Service: "kms",
				SessionToken: tc.creds.SessionToken, SigningTime: testNow}
			if *res != want {
				t.Fatalf("result = %+v, want %+v", *res, want)
			}
		})
	}
}

// TestKMSClient drives a real kms.Client against a listener whose handler
// calls Verify.
func TestKMSClient(t *testing.T) {
	store := testStore()
	temp := store[testTempAKID]
	temp.Expires = time.Now().Add(time.Hour)
	store[testTempAKID] = temp
	v := &Verifier{Credentials: store, Services: []string{"kms"}}
	var (
		mu   sync.Mutex
		seen []Result
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := v.Verify(r.Context(), r, body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if err != nil {
			e := kmserr.As(err)
			w.WriteHeader(kmserr.HTTPStatus(e.Code))
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
			return
		}
		mu.Lock()
		seen = append(seen, *res)
		mu.Unlock()
		switch r.Header.Get("X-Amz-Target") {
		case "TrentService.Encrypt":
			_, _ = io.WriteString(w, `{"CiphertextBlob":"AAECAw==","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`)
		case "TrentService.ListKeys":
			_, _ = io.WriteString(w, `{"Keys":[],"Truncated":false}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"UnknownOperationException"}`)
		}
	}))
	t.Cleanup(srv.Close)

	client := func(akid, sk, token string) *kms.Client {
		return kms.New(kms.Options{
			Region:           testRegion,
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(akid, sk, token),
			HTTPClient:       sdkhttp.Wrap(srv.Client()),
			RetryMaxAttempts: 1,
		})
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		akid, sk, token string
	}{
		{"long-term", testAKID, testSecretKey, ""},
		{"session", testTempAKID, testSecretKey + "-temp", testToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(tc.akid, tc.sk, tc.token)
			out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/app"), Plaintext: []byte("hello")})
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if !bytes.Equal(out.CiphertextBlob, []byte{0, 1, 2, 3}) {
				t.Fatalf("CiphertextBlob = %x", out.CiphertextBlob)
			}
			if _, err := c.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
				t.Fatalf("ListKeys: %v", err)
			}
		})
	}
	mu.Lock()
	if len(seen) != 4 || seen[0].AccessKeyID != testAKID || seen[2].SessionToken != testToken {
		t.Fatalf("verified results = %+v", seen)
	}
	mu.Unlock()

	// The SDK surfaces our exceptions by name.
	for _, tc := range []struct {
		name            string
		akid, sk, token string
		code            string
	}{
		{"wrong secret", testAKID, "not-the-secret", "", kmserr.InvalidSignature},
		{"unknown key", "AKIAUNKNOWN000000000", testSecretKey, "", kmserr.UnrecognizedClient},
		{"wrong token", testTempAKID, testSecretKey + "-temp", "forged", kmserr.UnrecognizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(tc.akid, tc.sk, tc.token).ListKeys(ctx, &kms.ListKeysInput{})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestTamperedRequestsFail(t *testing.T) {
	v := newVerifier(testStore(), testNow)
	for _, tc := range []struct {
		name   string
		tamper func(r *http.Request, body []byte) []byte
	}{
		{"body byte", func(_ *http.Request, b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-3] ^= 0x01
			return c
		}},
		{"X-Amz-Target", func(r *http.Request, b []byte) []byte {
			r.Header.Set("X-Amz-Target", "TrentService.Decrypt")
			return b
		}},
		{"Host", func(r *http.Request, b []byte) []byte { r.Host = "kms.us-east-1.amazonaws.com.evil"; return b }},
		{"query string", func(r *http.Request, b []byte) []byte { r.URL.RawQuery = "a=b"; return b }},
		{"path", func(r *http.Request, b []byte) []byte { r.URL.Path = "/x"; return b }},
		{"method", func(r *http.Request, b []byte) []byte { r.Method = http.MethodPut; return b }},
		{"signed header value", func(r *http.Request, b []byte) []byte {
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			return b
		}},
		{"signature first hex digit", func(r *http.Request, b []byte) []byte {
			flipSignature(r, func(sig []byte) { sig[0] = otherHex(sig[0]) })
			return b
		}},
		{"signature last hex digit", func(r *http.Request, b []byte) []byte {
			flipSignature(r, func(sig []byte) { sig[len(sig)-1] = otherHex(sig[len(sig)-1]) })
			return b
		}},
		{"signature truncated", func(r *http.Request, b []byte) []byte {
			flipSignature(r, func(sig []byte) { copy(sig, strings.Repeat("z", len(sig))) })
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signedEncrypt(t, longTermCreds())
			body := []byte(encryptBody)
			if _, err := v.Verify(context.Background(), req, body); err != nil {
				t.Fatalf("untampered request: %v", err)
			}
			body = tc.tamper(req, body)
			_, err := v.Verify(context.Background(), req, body)
			wantErr(t, err, kmserr.InvalidSignature, msgSignatureDiffer)
		})
	}
}

func flipSignature(r *http.Request, f func(sig []byte)) {
	h := r.Header.Get("Authorization")
	i := strings.Index(h, "Signature=") + len("Signature=")
	sig := []byte(h[i:])
	f(sig)
	r.Header.Set("Authorization", h[:i]+string(sig))
}

func otherHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

func TestClockWindow(t *testing.T) {
	v := newVerifier(testStore(), testNow)
	for _, tc := range []struct {
		name string
		at   time.Time
		msg  string
	}{
		{"now-4m59s", testNow.Add(-(4*time.Minute + 59*time.Second)), ""},
		{"now+4m59s", testNow.Add(4*time.Minute + 59*time.Second), ""},
		{"now-5m", testNow.Add(-5 * time.Minute), ""},
		{"now-5m01s", testNow.Add(-(5*time.Minute + time.Second)),
			"Signature expired: 20260101T000500Z is now earlier than 20260101T000501Z (20260101T001001Z - 5 min.)"},
		{"now-10m01s", testNow.Add(-(10*time.Minute + time.Second)),
			"Signature expired: 20260101T000000Z is now earlier than 20260101T000501Z (20260101T001001Z - 5 min.)"},
		{"now+5m01s", testNow.Add(5*time.Minute + time.Second),
			"Signature not yet current: 20260101T001502Z is still later than 20260101T001501Z (20260101T001001Z + 5 min.)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsRequest(t, "Encrypt", encryptBody)
			sign(t, req, encryptBody, longTermCreds(), "kms", testRegion, tc.at)
			_, err := v.Verify(context.Background(), req, []byte(encryptBody))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantErr(t, err, kmserr.InvalidSignature, tc.msg)
		})
	}

	// A configured window is honoured and named in the message.
	v.MaxSkew = 2 * time.Minute
	req := kmsRequest(t, "Encrypt", encryptBody)
	sign(t, req, encryptBody, longTermCreds(), "kms", testRegion, testNow.Add(-3*time.Minute))
	_, err := v.Verify(context.Background(), req, []byte(encryptBody))
	wantErr(t, err, kmserr.InvalidSignature,
		"Signature expired: 20260101T000701Z is now earlier than 20260101T000801Z (20260101T001001Z - 2 min.)")
}

// rewriteAuth edits the Authorization header after signing.
func rewriteAuth(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}
