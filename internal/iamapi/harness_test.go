package iamapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/identity"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/sdkhttp"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const (
	account = "111122223333"
	// The AWS documentation's example pair, the root's credentials here.
	rootKey    = "AKIAIOSFODNN7EXAMPLE"
	rootSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var bg = context.Background()

// fakeClock is the identity store's clock: the wall clock shifted by an
// offset. SigV4 checks use the wall clock (the SDKs sign with it), so
// shifting this one back issues sessions that have already expired.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Set shifts the clock so that it reads t now.
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.offset = time.Until(t); c.mu.Unlock() }

// syncBuffer collects log output while requests run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is kmsd's API server with the IAM and STS query API on a loopback
// port, a real store, seal and audit log, as cmd/kmsd wires it.
type server struct {
	t         *testing.T
	URL       string
	IDs       *identity.Store
	Clock     *fakeClock
	AuditPath string
	Logs      *syncBuffer

	stopOnce sync.Once
	stop     func()
}

// start runs a server that verifies signatures (strict) or, like `kmsd dev`
// without --enforce, accepts any credentials as the account root.
func start(t *testing.T, strict bool) *server {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	al, err := audit.OpenFile(auditPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	ids := identity.New(identity.Config{Store: st, Sealer: sl, Clock: clock, RootMayAssumeRoles: !strict})
	if err := ids.Init(bg, account); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	var auth, queryAuth api.Authenticator = api.Permissive{AccountID: account, DefaultRegion: "us-east-1"}, nil
	queryAuth = auth
	if strict {
		if err := ids.EnsureAccessKey(bg, account, "", rootKey, secret.Bytes(rootSecret)); err != nil {
			t.Fatal(err)
		}
		creds := api.Identities{Store: ids}
		auth = api.Strict{Verifier: &sigv4.Verifier{Credentials: creds, Services: []string{"kms"}}, Principals: creds}
		queryAuth = api.Strict{Verifier: &sigv4.Verifier{Credentials: creds, Services: []string{"iam", "sts"}}, Principals: creds}
	}
	query, err := iamapi.New(iamapi.Config{Identities: ids, Auth: queryAuth, Audit: al, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: al, Logger: log, Query: query})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	s := &server{t: t, URL: hs.URL, IDs: ids, Clock: clock, AuditPath: auditPath, Logs: logs}
	s.stop = func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down and flushes the audit log.
func (s *server) Stop() { s.stopOnce.Do(s.stop) }

type creds struct{ key, secret, token string }

var root = creds{rootKey, rootSecret, ""}

func (c creds) provider() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.key, c.secret, c.token)
}

func (s *server) iam(c creds) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

func (s *server) sts(c creds) *sts.Client {
	return sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

func (s *server) kms(c creds) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

// readAudit stops the server, flushing the log, and returns its records.
func (s *server) readAudit() []map[string]any {
	s.t.Helper()
	s.Stop()
	b, err := os.ReadFile(s.AuditPath)
	if err != nil {
		s.t.Fatal(err)
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

// auditBytes stops the server and returns the raw audit log.
func (s *server) auditBytes() []byte {
	s.t.Helper()
	s.Stop()
	b, err := os.ReadFile(s.AuditPath)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// wantErr checks an SDK error's code and HTTP status and returns its message.
func wantErr(t *testing.T, err error, code string, status int) string {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want an API error %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got %s (%q), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%v carries no HTTP response", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("%s: HTTP %d, want %d", code, re.HTTPStatusCode(), status)
	}
	return ae.ErrorMessage()
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// rawResponse is an HTTP answer read in full.
type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// post sends a form-encoded body with the given headers and no signature
// unless the headers carry one.
func (s *server) post(body string, header map[string]string) rawResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// createUserWithKey makes a user and an access key for it.
func (s *server) createUserWithKey(name string) creds {
	s.t.Helper()
	c := s.iam(root)
	if _, err := c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		s.t.Fatalf("CreateUser %s: %v", name, err)
	}
	out, err := c.CreateAccessKey(bg, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		s.t.Fatalf("CreateAccessKey %s: %v", name, err)
	}
	return creds{key: *out.AccessKey.AccessKeyId, secret: *out.AccessKey.SecretAccessKey}
}

func trustPolicy(principals ...string) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": principals}, "Action": "sts:AssumeRole",
		}},
	})
	return string(b)
}
