package cloudtrail_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	ct "github.com/kmsd/kmsd/internal/cloudtrail"
)

// stalledAudit is an audit log whose writer stays behind past Append's
// deadline, as a stalled disk leaves it.
type stalledAudit struct{}

func (stalledAudit) Append(*audit.Event) error {
	return fmt.Errorf("append: %w", audit.ErrTimeout)
}

// TestStalledAuditIsThrottling: when the audit log cannot take a record in
// time, LookupEvents is refused with ThrottlingException, which the AWS
// SDKs retry after a backoff, as the KMS API does; before, it was a 500.
func TestStalledAuditIsThrottling(t *testing.T) {
	h, err := ct.New(ct.Config{Auth: api.Permissive{AccountID: "111122223333", DefaultRegion: "us-east-1"},
		Audit: stalledAudit{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"ThrottlingException"`) {
		t.Fatalf("status %d, body %s; want 400 ThrottlingException", w.Code, w.Body)
	}
}
