package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// recorder is an api.Observer that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	seen map[[2]string]int
	lat  []time.Duration
}

func (r *recorder) ObserveRequest(op, outcome string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[[2]string]int{}
	}
	r.seen[[2]string{op, outcome}]++
	r.lat = append(r.lat, d)
}

func (r *recorder) count(op, outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[[2]string{op, outcome}]
}

// syncBuf is a log sink written by the server and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// observedServer is a Permissive server with an Observer and a JSON logger.
func observedServer(t *testing.T, level slog.Level) (*kms.Client, string, *recorder, *syncBuf) {
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
	al, err := audit.OpenFile(filepath.Join(dir, "audit.jsonl"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al.Close() })
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.AccountOwner{}})
	if err != nil {
		t.Fatal(err)
	}
	rec, logs := &recorder{}, &syncBuf{}
	srv, err := api.New(api.Config{Service: svc, Auth: api.Permissive{AccountID: testAccount, DefaultRegion: testRegion},
		Audit: al, Observer: rec, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return newClient(hs.URL, testRegion, testAccessKey, testSecretKey), hs.URL, rec, logs
}

// Every KMS request reaches the Observer once, with its operation and
// the exception the caller got; a made-up target counts as "unknown", so
// clients cannot create label values.
func TestObserverSeesEveryRequest(t *testing.T) {
	c, url, rec, _ := observedServer(t, slog.LevelInfo)
	ctx := context.Background()
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
	if nf := (*types.NotFoundException)(nil); !errors.As(err, &nf) {
		t.Fatalf("DescribeKey of a missing alias = %v", err)
	}
	for _, target := range []string{"TrentService.NoSuchThing", "Encrypt", "TrentService.NoSuchThing2"} {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, c := range []struct {
		op, outcome string
		want        int
	}{
		{"CreateKey", "ok", 1},
		{"Encrypt", "ok", 3},
		{"DescribeKey", "NotFoundException", 1},
		{"unknown", "UnknownOperationException", 3},
		{"NoSuchThing", "UnknownOperationException", 0},
		{"Encrypt", "UnknownOperationException", 0},
	} {
		if got := rec.count(c.op, c.outcome); got != c.want {
			t.Errorf("%s/%s observed %d times, want %d", c.op, c.outcome, got, c.want)
		}
	}
	for _, d := range rec.lat {
		if d <= 0 || d > time.Minute {
			t.Errorf("latency %v", d)
		}
	}
}

// One JSON line per request names the request, operation, principal, key
// and outcome, and holds no plaintext, ciphertext or context value; debug
// adds the caller's address, agent, access key and audit event.
func TestRequestLogLine(t *testing.T) {
	const canary = "canary-plaintext-7f3a9"
	const ctxValue = "context-value-5be1"
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			c, _, _, logs := observedServer(t, level)
			ctx := context.Background()
			key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			if err != nil {
				t.Fatal(err)
			}
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte(canary),
				EncryptionContext: map[string]string{"purpose": ctxValue}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err == nil {
				t.Fatal("Decrypt without the context succeeded")
			}
			out := logs.String()
			var lines []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				if m["msg"] == "request" {
					lines = append(lines, m)
				}
			}
			if len(lines) != 3 {
				t.Fatalf("%d request lines, want 3:\n%s", len(lines), out)
			}
			arn := *key.KeyMetadata.Arn
			for i, want := range []struct{ op, key, outcome string }{
				{"CreateKey", arn, "ok"}, {"Encrypt", arn, "ok"}, {"Decrypt", arn, "InvalidCiphertextException"},
			} {
				l := lines[i]
				if l["level"] != "INFO" || l["operation"] != want.op || l["key"] != want.key || l["outcome"] != want.outcome ||
					l["principal"] != "arn:aws:iam::"+testAccount+":root" || l["requestId"] == "" {
					t.Errorf("line %d = %v, want %s of %q → %s by the root", i, l, want.op, want.key, want.outcome)
				}
				if ms, ok := l["latencyMs"].(float64); !ok || ms < 0 {
					t.Errorf("line %d latencyMs = %v", i, l["latencyMs"])
				}
				_, hasIP := l["sourceIp"]
				_, hasEvent := l["eventId"]
				if debug := level == slog.LevelDebug; hasIP != debug || hasEvent != debug {
					t.Errorf("line %d at %v: sourceIp %v eventId %v", i, level, hasIP, hasEvent)
				}
			}
			blob := string(enc.CiphertextBlob)
			for _, secret := range []string{canary, ctxValue, testSecretKey, blob} {
				if strings.Contains(out, secret) {
					t.Errorf("the log holds %q", secret)
				}
			}
		})
	}
}
