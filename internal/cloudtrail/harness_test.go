package cloudtrail_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/authz"
	ct "github.com/kmsd/kmsd/internal/cloudtrail"
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

// server is kmsd's API server on a loopback port with KMS, IAM and STS
// and CloudTrail, signatures and policies enforced, and a real store,
// seal, audit log and index, as cmd/kmsd wires them.
type server struct {
	t         *testing.T
	URL       string
	AuditPath string

	stopOnce sync.Once
	stop     func()
}

func start(t *testing.T) *server {
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
	auditPath := filepath.Join(dir, "audit", "kmsd-audit.jsonl")
	ix, err := auditindex.Open(auditPath, auditindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.OpenFile(auditPath, audit.Options{FailClosed: true, Durable: ix.Durable})
	if err != nil {
		t.Fatal(err)
	}
	ix.Start()
	pol := &authz.Policies{}
	ids := identity.New(identity.Config{Store: st, Sealer: sl, Policies: pol, Trust: pol})
	pol.Store = ids
	if err := ids.Init(bg, account); err != nil {
		t.Fatal(err)
	}
	if err := ids.EnsureAccessKey(bg, account, "", rootKey, secret.Bytes(rootSecret)); err != nil {
		t.Fatal(err)
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.PolicyAuthorizer{Identities: pol}})
	if err != nil {
		t.Fatal(err)
	}
	creds := api.Identities{Store: ids}
	strict := func(services ...string) api.Authenticator {
		return api.Strict{Verifier: &sigv4.Verifier{Credentials: creds, Services: services}, Principals: creds}
	}
	log := slog.New(slog.DiscardHandler)
	query, err := iamapi.New(iamapi.Config{Identities: ids, Auth: strict("iam", "sts"), Audit: al, Authorizer: pol, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	trail, err := ct.New(ct.Config{Auth: strict("cloudtrail"), Audit: al, Events: ix, Identities: pol, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Auth: strict("kms"), Audit: al, Logger: log, Query: query, CloudTrail: trail})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	s := &server{t: t, URL: hs.URL, AuditPath: auditPath}
	s.stop = func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := ix.Close(); err != nil {
			t.Errorf("close index: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	t.Cleanup(func() { s.stopOnce.Do(s.stop) })
	return s
}

type creds struct{ key, secret string }

var root = creds{rootKey, rootSecret}

func (c creds) provider() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.key, c.secret, "")
}

func (s *server) trail(c creds, region string) *cloudtrail.Client {
	return cloudtrail.New(cloudtrail.Options{Region: region, BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

func (s *server) kms(c creds) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

func (s *server) iam(c creds) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), Credentials: c.provider(), RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
}

// user makes an IAM user with an access key and, if policy is not empty,
// that inline policy.
func (s *server) user(name, policy string) creds {
	s.t.Helper()
	c := s.iam(root)
	if _, err := c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		s.t.Fatalf("CreateUser %s: %v", name, err)
	}
	if policy != "" {
		if _, err := c.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)}); err != nil {
			s.t.Fatalf("PutUserPolicy %s: %v", name, err)
		}
	}
	out, err := c.CreateAccessKey(bg, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		s.t.Fatalf("CreateAccessKey %s: %v", name, err)
	}
	return creds{key: *out.AccessKey.AccessKeyId, secret: *out.AccessKey.SecretAccessKey}
}

// statements is an identity policy of the given statements.
func statements(stmts ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	return string(b)
}

// wantErr checks an SDK error's code and HTTP status and returns its
// message.
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
