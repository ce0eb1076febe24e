package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// panicky panics on requests that carry X-Test-Panic, as a bug in any layer might.
type panicky struct{ api.Permissive }

func (p panicky) Authenticate(ctx context.Context, r *http.Request, body []byte) (kmscore.Caller, error) {
	if r.Header.Get("X-Test-Panic") != "" {
		panic("secret detail that must not reach the client")
	}
	return p.Permissive.Authenticate(ctx, r, body)
}

// recordingAuditor keeps events, or refuses them all when failing is set.
type recordingAuditor struct {
	mu      sync.Mutex
	events  []*audit.Event
	failing bool
}

func (a *recordingAuditor) Append(ev *audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failing {
		return errors.New("disk full")
	}
	a.events = append(a.events, ev)
	return nil
}

func containmentServer(t *testing.T, au *recordingAuditor) string {
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
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Auth: panicky{api.Permissive{AccountID: "111122223333", DefaultRegion: "us-east-1"}}, Audit: au})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

func call(t *testing.T, url, target, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "TrentService."+target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

// TestPanicIsContainedAndAudited: a panic becomes KMSInternalException with
// no detail, is audited under the request ID the client saw, and the server
// keeps serving.
func TestPanicIsContainedAndAudited(t *testing.T) {
	au := &recordingAuditor{}
	url := containmentServer(t, au)
	resp, body := call(t, url, "ListKeys", "{}", map[string]string{"X-Test-Panic": "1"})
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte(`"__type":"KMSInternalException"`)) {
		t.Fatalf("panic answered %d %s, want 500 KMSInternalException", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte("secret detail")) {
		t.Fatalf("the panic value reached the client: %s", body)
	}
	if len(au.events) != 1 || au.events[0].ErrorCode != "KMSInternalException" || au.events[0].RequestID != resp.Header.Get("x-amzn-RequestId") {
		t.Fatalf("audit after panic: %+v", au.events)
	}
	if resp, body := call(t, url, "ListKeys", "{}", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("server stopped serving after a panic: %d %s", resp.StatusCode, body)
	}
}

// TestNoAnswerWithoutAudit: when the audit record cannot be kept, the client
// gets KMSInternalException and never the plaintext.
func TestNoAnswerWithoutAudit(t *testing.T) {
	au := &recordingAuditor{}
	url := containmentServer(t, au)
	_, body := call(t, url, "CreateKey", "{}", nil)
	var ck struct{ KeyMetadata struct{ KeyId string } }
	if err := json.Unmarshal(body, &ck); err != nil || ck.KeyMetadata.KeyId == "" {
		t.Fatalf("CreateKey: %s", body)
	}
	secret := base64.StdEncoding.EncodeToString([]byte("CANARY-unaudited-plaintext"))
	_, body = call(t, url, "Encrypt", `{"KeyId":"`+ck.KeyMetadata.KeyId+`","Plaintext":"`+secret+`"}`, nil)
	var enc struct{ CiphertextBlob string }
	if err := json.Unmarshal(body, &enc); err != nil || enc.CiphertextBlob == "" {
		t.Fatalf("Encrypt: %s", body)
	}
	au.mu.Lock()
	au.failing = true
	au.mu.Unlock()
	resp, body := call(t, url, "Decrypt", `{"CiphertextBlob":"`+enc.CiphertextBlob+`"}`, nil)
	if resp.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte("KMSInternalException")) {
		t.Fatalf("Decrypt without audit answered %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte(secret)) || bytes.Contains(body, []byte("CANARY")) {
		t.Fatal("plaintext left without an audit record")
	}
}
