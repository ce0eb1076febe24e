package api_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// recordingQuery stands in for the IAM and STS API and notes what it got.
type recordingQuery struct{ services []string }

func (q *recordingQuery) ServeQuery(w http.ResponseWriter, _ *http.Request, service string) {
	q.services = append(q.services, service)
	w.WriteHeader(http.StatusTeapot)
}

// TestQueryRequestsAreRoutedByCredentialScope checks which requests reach
// the query API: those scoped to iam or sts and unsigned form posts; KMS
// calls (X-Amz-Target) and everything else stay with KMS.
func TestQueryRequestsAreRoutedByCredentialScope(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.OpenFile(filepath.Join(dir, "audit.jsonl"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	q := &recordingQuery{}
	srv, err := api.New(api.Config{Service: svc, Auth: api.Permissive{AccountID: testAccount, DefaultRegion: testRegion}, Audit: al, Query: q})
	if err != nil {
		t.Fatal(err)
	}
	scope := func(service string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	}
	const form = "application/x-www-form-urlencoded; charset=utf-8"
	for _, tc := range []struct {
		name                     string
		target, auth, ctype, via string
	}{
		{"iam scope", "", scope("iam"), form, "iam"},
		{"sts scope", "", scope("sts"), form, "sts"},
		{"unsigned form post", "", "", form, ""},
		{"kms call", "TrentService.ListKeys", scope("kms"), "application/x-amz-json-1.1", "kms"},
		{"kms call scoped to iam", "TrentService.ListKeys", scope("iam"), "application/x-amz-json-1.1", "kms"},
		{"form scoped to s3", "", scope("s3"), form, "kms"},
		{"malformed scope", "", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/iam", form, "kms"},
		{"unsigned json", "", "", "application/x-amz-json-1.1", "kms"},
	} {
		q.services = nil
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=ListUsers&Version=2010-05-08"))
		for k, v := range map[string]string{"X-Amz-Target": tc.target, "Authorization": tc.auth, "Content-Type": tc.ctype} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch {
		case tc.via == "kms" && (len(q.services) != 0 || rec.Header().Get("Content-Type") != "application/x-amz-json-1.1"):
			t.Errorf("%s: went to the query API (%v), want KMS", tc.name, q.services)
		case tc.via != "kms" && (len(q.services) != 1 || q.services[0] != tc.via || rec.Code != http.StatusTeapot):
			t.Errorf("%s: query API got %v (HTTP %d), want service %q", tc.name, q.services, rec.Code, tc.via)
		}
	}
}
