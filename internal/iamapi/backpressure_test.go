package iamapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// stalledAudit is an audit log whose writer stays behind past Append's
// deadline, as a stalled disk leaves it.
type stalledAudit struct{}

func (stalledAudit) Append(*audit.Event) error {
	return fmt.Errorf("append: %w", audit.ErrTimeout)
}

// TestStalledAuditIsThrottling: when the audit log cannot take a record in
// time, an IAM call is refused with Throttling, which the AWS SDKs retry
// after a backoff, as the KMS API does; before, it was a 500 ServiceFailure.
func TestStalledAuditIsThrottling(t *testing.T) {
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
	ids := identity.New(identity.Config{Store: st, Sealer: sl})
	if err := ids.Init(context.Background(), account); err != nil {
		t.Fatal(err)
	}
	h, err := iamapi.New(iamapi.Config{Identities: ids, Auth: api.Permissive{AccountID: account, DefaultRegion: "us-east-1"},
		Audit: stalledAudit{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeQuery(w, req, "iam")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "<Code>Throttling</Code>") {
		t.Fatalf("status %d, body %s; want 400 Throttling", w.Code, w.Body)
	}
}
