package xksproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
	testAKID    = "AKIAXKSPROXYTESTKEY2345"
	testSecret  = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE"
	// A second pair, as during a rotation of the credentials.
	testAKID2   = "BKIAXKSPROXYTESTKEY6777"
	testSecret2 = "p2zH0yYt8oW0a+3xq3Jr2Yg1Kx0yq3G9q0bq0t7uQe8="
)

// memAudit keeps the records, or refuses them when failing is set.
type memAudit struct {
	mu      sync.Mutex
	events  []*audit.Event
	failing bool
}

func (a *memAudit) Append(ev *audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return errors.New("disk full")
	}
	a.events = append(a.events, ev)
	return nil
}

func (a *memAudit) last(t *testing.T) *audit.Event {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) == 0 {
		t.Fatal("no audit record")
	}
	return a.events[len(a.events)-1]
}

type harness struct {
	t     *testing.T
	svc   *kms.Service
	audit *memAudit
	logs  *bytes.Buffer
	srv   *httptest.Server
	base  string
}

// newHarness serves a real kms.Service through the proxy on a loopback
// listener; cfg's Backend, Audit and Credentials default to it.
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: st, Sealer: sl, Authorizer: kms.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, svc: svc, audit: &memAudit{}, logs: &bytes.Buffer{}}
	cfg := Config{
		Backend: svc, Audit: h.audit, AccountID: testAccount, Region: testRegion, Prefix: "/tenant-a",
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
		Credentials: []Credential{
			{AccessKeyID: testAKID, Secret: secret.Bytes(testSecret)},
			{AccessKeyID: testAKID2, Secret: secret.Bytes(testSecret2)},
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	handler, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	h.base = h.srv.URL + "/tenant-a/kms/xks/v1"
	return h
}

func (h *harness) caller() *kms.Call {
	return &kms.Call{Caller: kms.RootCaller(testAccount, testRegion)}
}

func (h *harness) createKey(in *kmsapi.CreateKeyInput) string {
	h.t.Helper()
	if in == nil {
		in = &kmsapi.CreateKeyInput{}
	}
	out, err := h.svc.CreateKey(context.Background(), h.caller(), in)
	if err != nil {
		h.t.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}

// signed is how a request is signed: by default as AWS KMS signs, with the
// first credential, now, host and x-amz-date only.
type signed struct {
	akid, secret string
	at           time.Time
	service      string
	method       string
}

// response is an XKS answer, decoded.
type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r response) errorName() string { s, _ := r.body["errorName"].(string); return s }

func (r response) str(name string) string { s, _ := r.body[name].(string); return s }

// post sends body to path (after the base) signed as s says.
func (h *harness) post(path string, body any, s signed) response {
	h.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	if s.akid == "" {
		s.akid, s.secret = testAKID, testSecret
	}
	if s.at.IsZero() {
		s.at = time.Now()
	}
	if s.service == "" {
		s.service = "kms-xks-proxy"
	}
	if s.method == "" {
		s.method = http.MethodPost
	}
	req, err := http.NewRequest(s.method, h.base+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.akid, SecretAccessKey: s.secret},
		req, hex.EncodeToString(sum[:]), s.service, testRegion, s.at)
	if err != nil {
		h.t.Fatal(err)
	}
	// AWS KMS sends a Content-Type it does not sign.
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func metadata(op string) map[string]any {
	return map[string]any{
		"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
		"kmsKeyArn":       "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"kmsOperation":    op,
		"kmsRequestId":    "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
		"kmsViaService":   "ebs",
	}
}

func encryptBody(pt, aad string) map[string]any {
	b := map[string]any{"requestMetadata": metadata("Encrypt"), "plaintext": pt, "encryptionAlgorithm": "AES_GCM"}
	if aad != "" {
		b["additionalAuthenticatedData"] = aad
	}
	return b
}

func decryptBody(enc response, aad string) map[string]any {
	b := map[string]any{
		"requestMetadata": metadata("Decrypt"), "encryptionAlgorithm": "AES_GCM",
		"ciphertext": enc.str("ciphertext"), "initializationVector": enc.str("initializationVector"),
		"authenticationTag": enc.str("authenticationTag"), "ciphertextMetadata": enc.str("ciphertextMetadata"),
	}
	if aad != "" {
		b["additionalAuthenticatedData"] = aad
	}
	return b
}

func wantError(t *testing.T, what string, r response, status int, name string) {
	t.Helper()
	if r.status != status || r.errorName() != name {
		t.Errorf("%s: got %d %s, want %d %s", what, r.status, r.raw, status, name)
	}
	if msg := r.str("errorMessage"); len(msg) >= 512 || strings.ContainsFunc(msg, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		t.Errorf("%s: errorMessage is not printable ASCII under 512 characters: %q", what, msg)
	}
}
