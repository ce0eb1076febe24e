package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
)

// serveWithKey starts kmsd serve with extra flags and returns it with the
// clients of the bootstrap access key (the account root's) and its secret.
func serveWithKey(t *testing.T, data string, args ...string) (*proc, clients, string) {
	t.Helper()
	p := startKMSD(t, append([]string{"serve", "--data", data}, args...)...)
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve did not print a bootstrap access key:\n%s", p.stdout)
	}
	return p, p.as(m[1], m[2], ""), m[2]
}

// scrapeMetrics reads a Prometheus text page into samples by series as
// printed: name{label="value",...}.
func scrapeMetrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: HTTP %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsOnAdminListener scrapes /metrics of kmsd serve on its admin
// listener while the AWS SDK makes calls, and checks that each series
// moves by what the calls did. The API port does not serve them.
func TestMetricsOnAdminListener(t *testing.T) {
	ctx := context.Background()
	admin := freeAddr(t)
	// No flush of key uses after the one at start: the uses below stay
	// pending.
	p, root, _ := serveWithKey(t, t.TempDir(), "--admin-listen", admin, "--jobs-interval", "1h")
	metricsURL := "http://" + admin + "/metrics"
	before := scrapeMetrics(t, metricsURL)

	key, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	const encrypts = 7
	for range encrypts {
		if _, err := root.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	nobody := newUser(t, p, root, "nobody", "") // no policy: denied by default
	if _, err := nobody.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.Arn, Plaintext: []byte("x")}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("Encrypt by a user without a policy = %v, want AccessDeniedException", err)
	}
	doomed, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.kms.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	after := scrapeMetrics(t, metricsURL)

	delta := func(series string) float64 { return after[series] - before[series] }
	for series, want := range map[string]float64{
		`kmsd_requests_total{operation="Encrypt",outcome="ok"}`:                    encrypts,
		`kmsd_requests_total{operation="Encrypt",outcome="AccessDeniedException"}`: 1,
		`kmsd_requests_total{operation="CreateKey",outcome="ok"}`:                  2,
		`kmsd_request_duration_seconds_count{operation="Encrypt"}`:                 encrypts + 1,
		`kmsd_keys{state="Enabled"}`:                                               1,
		`kmsd_keys{state="PendingDeletion"}`:                                       1,
		`kmsd_audit_write_failures_total`:                                          0,
		`kmsd_key_last_usage_pending`:                                              1, // the one key the Encrypts used
	} {
		if got := delta(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	// The first Encrypt may load the key; the others find it in memory.
	if hits := delta("kmsd_key_cache_hits_total"); hits < encrypts-1 {
		t.Errorf("key cache hits grew by %v over %d Encrypts of one key", hits, encrypts)
	}
	if n := delta(`kmsd_store_transaction_duration_seconds_count{op="update"}`); n < 3 {
		t.Errorf("store updates grew by %v after two CreateKeys and a ScheduleKeyDeletion", n)
	}
	// Every call above, the IAM ones included, was audited durably.
	if n := delta("kmsd_audit_records_total"); n < encrypts+4 {
		t.Errorf("audit records grew by %v", n)
	}
	// Each fsync made one record or more durable.
	if b := delta("kmsd_audit_batches_total"); b < 1 || b > delta("kmsd_audit_records_total") {
		t.Errorf("audit batches grew by %v for %v records", b, delta("kmsd_audit_records_total"))
	}
	if after["kmsd_audit_durable_lag_seconds_count"] != after["kmsd_audit_records_total"] || after["kmsd_audit_durable_lag_seconds_sum"] <= 0 {
		t.Errorf("durable lag: count %v sum %v for %v records", after["kmsd_audit_durable_lag_seconds_count"],
			after["kmsd_audit_durable_lag_seconds_sum"], after["kmsd_audit_records_total"])
	}
	if _, ok := after["kmsd_audit_queue_depth"]; !ok {
		t.Error("no kmsd_audit_queue_depth")
	}
	if after["kmsd_leader"] != 1 {
		t.Errorf("kmsd_leader = %v on a single node, want 1", after["kmsd_leader"])
	}

	// The API port is no metrics endpoint.
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "kmsd_requests_total") {
		t.Error("the API port serves the metrics")
	}
	p.stop()
}

// requestIDOf returns the request ID AWS SDK saw in a response or an error.
func requestIDOf(t *testing.T, md middleware.Metadata, err error) string {
	t.Helper()
	if err != nil {
		var re *awshttp.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("no response in %v", err)
		}
		return re.ServiceRequestID()
	}
	id, ok := awsmiddleware.GetRequestIDMetadata(md)
	if !ok {
		t.Fatal("no request ID")
	}
	return id
}

// requestLines parses kmsd's JSON log and returns its request lines by
// request ID.
func requestLines(t *testing.T, log string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "request" {
			id, _ := m["requestId"].(string)
			if _, dup := out[id]; dup {
				t.Errorf("two request lines for %s", id)
			}
			out[id] = m
		}
	}
	return out
}

// TestServeRequestLog makes calls through the AWS SDK and reads serve's
// JSON log: one info line per request names its request ID, operation,
// principal, key, outcome and latency; debug adds where it came from and
// its audit event. No plaintext, ciphertext, context value or secret key
// appears anywhere in kmsd's output.
func TestServeRequestLog(t *testing.T) {
	const canary = "plaintext-canary-93c1d7"
	const ctxValue = "context-value-e4b2"
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			ctx := context.Background()
			data := t.TempDir()
			p, root, rootSecret := serveWithKey(t, data, "--log-level", level)
			key, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{})
			if err != nil {
				t.Fatal(err)
			}
			arn := *key.KeyMetadata.Arn
			enc, err := root.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte(canary),
				EncryptionContext: map[string]string{"tenant": ctxValue}})
			if err != nil {
				t.Fatal(err)
			}
			encID := requestIDOf(t, enc.ResultMetadata, nil)
			dec, err := root.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"tenant": ctxValue}})
			if err != nil || string(dec.Plaintext) != canary {
				t.Fatalf("Decrypt = %v", err)
			}
			decID := requestIDOf(t, dec.ResultMetadata, nil)
			userSecret := ""
			nobody := newUser(t, p, root, "nobody", "")
			if creds, err := nobody.kms.Options().Credentials.Retrieve(ctx); err == nil {
				userSecret = creds.SecretAccessKey
			}
			_, err = nobody.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte(canary)})
			if errCode(err) != "AccessDeniedException" {
				t.Fatalf("Encrypt by a user without a policy = %v", err)
			}
			deniedID := requestIDOf(t, middleware.Metadata{}, err)
			p.stop()

			lines := requestLines(t, p.stderr.String())
			rootARN := "arn:aws:iam::" + acctA + ":root"
			for _, c := range []struct {
				id, op, principal, key, outcome string
			}{
				{encID, "Encrypt", rootARN, arn, "ok"},
				{decID, "Decrypt", rootARN, arn, "ok"},
				{deniedID, "Encrypt", "arn:aws:iam::" + acctA + ":user/nobody", "", "AccessDeniedException"},
			} {
				l, ok := lines[c.id]
				if !ok {
					t.Errorf("no request line for %s %s", c.op, c.id)
					continue
				}
				if l["level"] != "INFO" || l["operation"] != c.op || l["principal"] != c.principal || l["outcome"] != c.outcome {
					t.Errorf("%s line = %v, want %s by %s → %s", c.op, l, c.op, c.principal, c.outcome)
				}
				if c.key != "" && l["key"] != c.key {
					t.Errorf("%s line key = %v, want %s", c.op, l["key"], c.key)
				}
				if ms, ok := l["latencyMs"].(float64); !ok || ms <= 0 {
					t.Errorf("%s line latencyMs = %v", c.op, l["latencyMs"])
				}
				_, hasIP := l["sourceIp"]
				if hasIP != (level == "debug") {
					t.Errorf("%s line at %s has sourceIp: %v", c.op, level, hasIP)
				}
				if level == "debug" {
					if l["sourceIp"] != "127.0.0.1" || !strings.Contains(l["userAgent"].(string), "aws-sdk-go-v2") {
						t.Errorf("%s debug line = %v", c.op, l)
					}
					if ev := auditEventID(t, data, c.id); ev == "" || l["eventId"] != ev {
						t.Errorf("%s debug line eventId %v, audit record's %q", c.op, l["eventId"], ev)
					}
				}
			}

			all := p.stdout.String() + p.stderr.String()
			for what, s := range map[string]string{
				"plaintext": canary, "context value": ctxValue, "user's secret key": userSecret,
				"ciphertext": base64.StdEncoding.EncodeToString(enc.CiphertextBlob),
			} {
				if s == "" || strings.Contains(all, s) {
					t.Errorf("kmsd's output holds the %s (%q)", what, s)
				}
			}
			// The bootstrap secret is printed once on stdout, by design; never in the log.
			if strings.Contains(p.stderr.String(), rootSecret) {
				t.Error("the log holds the bootstrap secret key")
			}
		})
	}
}

// auditEventID returns the eventID of the audit record of a request.
func auditEventID(t *testing.T, data, requestID string) string {
	t.Helper()
	_, _, path := dataPaths(data)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct {
			RequestID string `json:"requestID"`
			EventID   string `json:"eventID"`
		}
		if json.Unmarshal([]byte(l), &ev) == nil && ev.RequestID == requestID {
			return ev.EventID
		}
	}
	return ""
}
