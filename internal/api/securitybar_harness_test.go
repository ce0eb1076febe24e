package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/sdkhttp"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// aliceA is an IAM user of the keys' account, for identity policy checks.
const aliceA = "arn:aws:iam::" + testAccount + ":user/alice"

// barCallers are grantCallers and aliceA.
var barCallers = func() grantPrincipals {
	p := grantPrincipals{}
	for akid, c := range grantCallers {
		p[akid] = c
	}
	p["AKIABARTEST000000001"] = kmscore.Caller{AccountID: testAccount, ARN: aliceA, PrincipalID: "AIDABARTEST000000001", Type: "IAMUser", UserName: "alice"}
	return p
}()

// barOptions configure a strict-mode server for the security bar's checks:
// signatures verified against barCallers (principals of two accounts, one
// access key each) and, unless allowAll is set, every
// request decided by the policy authorizer as kmsd serve decides it.
type barOptions struct {
	identities kmscore.IdentityPolicies // the callers' identity policies
	allowAll   bool                     // AccountOwner instead of the policy authorizer
	// verifierClock, when set, is the clock signatures are checked
	// against; nil checks them against the wall clock.
	verifierClock *fakeClock
	logger        *slog.Logger // nil: discard
}

// barServer serves one kmsd API handler on a plain HTTP listener and on a
// TLS listener, so a test can send the same request both ways.
type barServer struct {
	*testServer
	TLSURL    string
	Dir       string // the store, root key and audit log
	tlsClient *http.Client
}

func startBarServer(t *testing.T, opts barOptions) *barServer {
	t.Helper()
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	al, err := audit.OpenFile(auditPath, audit.Options{})
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	var authz kmscore.Authorizer = kmscore.PolicyAuthorizer{Identities: opts.identities, Clock: clock}
	if opts.allowAll {
		authz = kmscore.AccountOwner{}
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: authz, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	v := &sigv4.Verifier{Credentials: barCallers}
	if c := opts.verifierClock; c != nil {
		v.Now = c.Now
	}
	srv, err := api.New(api.Config{Service: svc, Auth: api.Strict{Verifier: v, Principals: barCallers}, Audit: al, Clock: clock, Logger: opts.logger})
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(srv)
	secure := httptest.NewTLSServer(srv)
	bs := &barServer{
		testServer: &testServer{t: t, URL: plain.URL, Clock: clock, Service: svc, AuditPath: auditPath, Audit: al},
		TLSURL:     secure.URL,
		Dir:        dir,
		tlsClient:  secure.Client(),
	}
	bs.stop = func() {
		plain.Close()
		secure.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	bs.Client = bs.as(rootA)
	t.Cleanup(bs.Stop)
	return bs
}

// akidOf returns the access key of a principal of barCallers.
func akidOf(t *testing.T, arn string) string {
	t.Helper()
	for akid, c := range barCallers {
		if c.ARN == arn {
			return akid
		}
	}
	t.Fatalf("no access key for %s", arn)
	return ""
}

// barClient is an SDK client of one principal over plain HTTP, on its own
// connection pool, with edit (if any) applied to each request after it is
// signed.
func (s *barServer) barClient(arn string, edit func(*http.Request)) *kms.Client {
	s.t.Helper()
	akid := akidOf(s.t, arn)
	hc := &editingClient{inner: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, edit: edit}
	return kms.New(kms.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, grantSecretOf(akid), ""),
		HTTPClient:       sdkhttp.Wrap(hc),
		RetryMaxAttempts: 1,
	})
}

// as is barClient without an edit.
func (s *barServer) as(arn string) *kms.Client { return s.barClient(arn, nil) }

// overTLS is a principal's client over the TLS listener.
func (s *barServer) overTLS(arn string) *kms.Client {
	s.t.Helper()
	akid := akidOf(s.t, arn)
	return kms.New(kms.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.TLSURL),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, grantSecretOf(akid), ""),
		HTTPClient:       sdkhttp.Wrap(s.tlsClient),
		RetryMaxAttempts: 1,
	})
}

// editingClient changes a request after the SDK signed it, as a network
// attacker or a misbehaving proxy would.
type editingClient struct {
	inner *http.Client
	edit  func(*http.Request)
}

func (c *editingClient) Do(r *http.Request) (*http.Response, error) {
	if c.edit != nil {
		c.edit(r)
	}
	return c.inner.Do(r)
}

// statusOf returns the HTTP status of an SDK error, or 0.
func barStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// requestIDOfErr returns the request ID the server answered an SDK error with.
func requestIDOfErr(t *testing.T, err error) string {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() == "" {
		t.Fatalf("%v carries no request ID", err)
	}
	return re.ServiceRequestID()
}

// identityPolicies maps caller ARNs to identity policy documents.
type identityPolicies map[string][]string

func (f identityPolicies) IdentityPolicies(_ context.Context, c *kmscore.Caller) ([]*policy.Policy, error) {
	var out []*policy.Policy
	for _, d := range f[c.ARN] {
		p, err := policy.ParseIdentityPolicy(d)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// noErr fails t (a subtest, not the server's test) on err.
func barNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// importFor fetches a wrapping key and token for keyID, wraps material with
// openssl and imports it, failing only t.
func importFor(t *testing.T, c *kms.Client, keyID string, spec types.WrappingKeySpec, alg types.AlgorithmSpec, material []byte) error {
	t.Helper()
	p, err := c.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(keyID), WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		return err
	}
	_, err = c.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: aws.String(keyID), ImportToken: p.ImportToken,
		EncryptedKeyMaterial: opensslWrap(t, p.PublicKey, alg, material), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	return err
}
