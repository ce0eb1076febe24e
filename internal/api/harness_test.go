package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/sdkhttp"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
	otherRegion = "us-west-2"
	// The AWS documentation's example key pair.
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// fakeClock is a kms.Clock that only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testServer is a kmsd API server on a loopback port, with a real bbolt
// store, root key file and audit log in a temporary directory.
type testServer struct {
	t         *testing.T
	URL       string
	Client    *kms.Client
	Clock     *fakeClock
	Service   *kmscore.Service
	AuditPath string
	Audit     *audit.Log

	stopOnce sync.Once
	stop     func()
}

type serverOptions struct {
	strict bool // verify SigV4 against testAccessKey/testSecretKey
	// dir holds the store, root key and audit log; empty: a fresh
	// temporary directory. A test reopens the same data by passing it again.
	dir   string
	clock *fakeClock // nil: a fake clock at the current time
}

// newServer starts a Permissive server (any credentials, account testAccount).
func newServer(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, serverOptions{})
}

func startServer(t *testing.T, opts serverOptions) *testServer {
	t.Helper()
	dir, clock := opts.dir, opts.clock
	if dir == "" {
		dir = t.TempDir()
	}
	if clock == nil {
		clock = &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	}

	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		_ = st.Close()
		t.Fatalf("open seal: %v", err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	al, err := audit.OpenFile(auditPath, audit.Options{})
	if err != nil {
		_ = st.Close()
		t.Fatalf("open audit log: %v", err)
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}, Clock: clock})
	if err != nil {
		t.Fatalf("kms.New: %v", err)
	}
	var auth api.Authenticator = api.Permissive{AccountID: testAccount, DefaultRegion: testRegion}
	if opts.strict {
		auth = api.Strict{
			Verifier:   &sigv4.Verifier{Credentials: staticCredentials{}},
			Principals: staticCredentials{},
		}
	}
	srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: al, Clock: clock})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv)

	ts := &testServer{t: t, URL: hs.URL, Clock: clock, Service: svc, AuditPath: auditPath, Audit: al}
	ts.stop = func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	ts.Client = newClient(hs.URL, testRegion, testAccessKey, testSecretKey)
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down and flushes the audit log; later calls do nothing.
func (s *testServer) Stop() { s.stopOnce.Do(s.stop) }

type staticCredentials struct{}

func (staticCredentials) SigningSecret(_ context.Context, akid string) (sigv4.Secret, error) {
	if akid != testAccessKey {
		return sigv4.Secret{}, sigv4.ErrUnknownAccessKey
	}
	return sigv4.Secret{Key: secret.Bytes(testSecretKey)}, nil
}

func (staticCredentials) Principal(_ context.Context, akid string) (kmscore.Caller, error) {
	if akid != testAccessKey {
		return kmscore.Caller{}, errors.New("unknown access key")
	}
	return kmscore.RootCaller(testAccount, ""), nil
}

func newClient(url, region, akid, secretKey string) *kms.Client {
	return kms.New(kms.Options{
		Region:           region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secretKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       sdkhttp.New(),
	})
}

// clientIn returns a client of the same server signing for another Region.
func (s *testServer) clientIn(region string) *kms.Client {
	return newClient(s.URL, region, testAccessKey, testSecretKey)
}

func keyARN(region, keyID string) string {
	return "arn:aws:kms:" + region + ":" + testAccount + ":key/" + keyID
}

func aliasARN(region, name string) string {
	return "arn:aws:kms:" + region + ":" + testAccount + ":" + name
}

// createKey makes a symmetric key and returns its metadata.
func (s *testServer) createKey(desc string) *types.KeyMetadata {
	s.t.Helper()
	out, err := s.Client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(desc)})
	if err != nil {
		s.t.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

func (s *testServer) createAlias(name, keyID string) {
	s.t.Helper()
	if _, err := s.Client.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: aws.String(keyID)}); err != nil {
		s.t.Fatalf("CreateAlias %s: %v", name, err)
	}
}

func (s *testServer) describe(keyID string) *types.KeyMetadata {
	s.t.Helper()
	out, err := s.Client.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		s.t.Fatalf("DescribeKey %s: %v", keyID, err)
	}
	return out.KeyMetadata
}

func (s *testServer) encrypt(keyID string, pt []byte, ec map[string]string) *kms.EncryptOutput {
	s.t.Helper()
	out, err := s.Client.Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		s.t.Fatalf("Encrypt: %v", err)
	}
	return out
}

func (s *testServer) disable(keyID string) {
	s.t.Helper()
	if _, err := s.Client.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(keyID)}); err != nil {
		s.t.Fatalf("DisableKey: %v", err)
	}
}

func (s *testServer) scheduleDeletion(keyID string, days int32) *kms.ScheduleKeyDeletionOutput {
	s.t.Helper()
	out, err := s.Client.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(days)})
	if err != nil {
		s.t.Fatalf("ScheduleKeyDeletion: %v", err)
	}
	return out
}

// apiError returns err as a smithy.APIError, failing the test if it is not one.
func apiError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatal("got success, want an error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want an AWS API error", err, err)
	}
	return ae
}

// wantCode checks the exception name and returns the message.
func wantCode(t *testing.T, err error, code string) string {
	t.Helper()
	ae := apiError(t, err)
	if ae.ErrorCode() != code {
		t.Fatalf("got %s (%q), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	return ae.ErrorMessage()
}

// wantError checks the exception name and the exact message.
func wantError(t *testing.T, err error, code, msg string) {
	t.Helper()
	if got := wantCode(t, err, code); got != msg {
		t.Fatalf("%s message:\n got %q\nwant %q", code, got, msg)
	}
}

// rawResponse is an HTTP answer read in full.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// post sends a JSON 1.1 request without the SDK (and without a signature).
// An empty target leaves the X-Amz-Target header out.
func (s *testServer) post(target string, body []byte) rawResponse {
	s.t.Helper()
	return s.do(target, "application/x-amz-json-1.1", body)
}

func (s *testServer) do(target, contentType string, body []byte) rawResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("read response of %s: %v", target, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// wireError checks that a raw response is an AWS JSON 1.1 error of the given
// type and returns its message.
func wireError(t *testing.T, r rawResponse, code string) string {
	t.Helper()
	if r.Status < 400 {
		t.Fatalf("status %d (body %s), want an error", r.Status, r.Body)
	}
	if r.Status >= 500 {
		t.Fatalf("status %d (body %s): a client mistake must not be a server fault", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q, want application/x-amz-json-1.1", ct)
	}
	if r.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId header")
	}
	var eb map[string]any
	if err := json.Unmarshal(r.Body, &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.Body, err)
	}
	typ, ok := eb["__type"].(string)
	if !ok {
		t.Fatalf("error body %s has no string __type", r.Body)
	}
	msg, ok := eb["message"].(string)
	if !ok {
		t.Fatalf("error body %s has no string message", r.Body)
	}
	if typ != code {
		t.Fatalf("__type %q (message %q), want %q", typ, msg, code)
	}
	return msg
}

// readAudit flushes the log (stopping the server) and returns its records.
func (s *testServer) readAudit() []map[string]any {
	s.t.Helper()
	s.Stop()
	b, err := os.ReadFile(s.AuditPath)
	if err != nil {
		s.t.Fatalf("read audit log: %v", err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			s.t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

var bg = context.Background()
