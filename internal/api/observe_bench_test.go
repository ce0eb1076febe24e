package api_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/metrics"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

type discardAudit struct{}

func (discardAudit) Append(*audit.Event) error { return nil }

// BenchmarkRequestObservability is the cost of a cached Encrypt through
// the handler (no network, audit discarded) bare, with metrics, and with
// metrics and the JSON request log line: the differences are what
// observability adds to each request.
func BenchmarkRequestObservability(b *testing.B) {
	dir := b.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		b.Fatal(err)
	}
	call := &kmscore.Call{Caller: kmscore.RootCaller(testAccount, testRegion)}
	key, err := svc.CreateKey(context.Background(), call, &kmsapi.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"KeyId":"` + key.KeyMetadata.KeyId + `","Plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`
	auth := api.Permissive{AccountID: testAccount, DefaultRegion: testRegion}
	for _, c := range []struct {
		name     string
		observer api.Observer
		logger   *slog.Logger
	}{
		{"bare", nil, nil},
		{"metrics", metrics.New(nil), nil},
		{"metrics+log", metrics.New(nil), slog.New(slog.NewJSONHandler(io.Discard, nil))},
	} {
		srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: discardAudit{}, Observer: c.observer, Logger: c.logger})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
