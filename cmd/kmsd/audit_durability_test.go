package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// serveCreds starts kmsd serve on a fresh data directory and returns it
// with the access key it prints on its first start.
func serveCreds(t *testing.T, data string, args ...string) (p *proc, akid, secret string) {
	t.Helper()
	p = startKMSD(t, append([]string{"serve", "--data", data}, args...)...)
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve did not print a bootstrap access key:\n%s", p.stdout)
	}
	return p, m[1], m[2]
}

// auditPathOf is the audit log of a data directory.
func auditPathOf(data string) string {
	_, _, p := dataPaths(data)
	return p
}

// breakAuditLog points the audit log at /dev/full, so every write fails
// with ENOSPC as on a full disk; the returned function mends it (the
// writer then starts a new file that continues the chain).
func breakAuditLog(t *testing.T, data string) (mend func()) {
	t.Helper()
	path := auditPathOf(data)
	if err := os.Rename(path, path+".before-full"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// auditRequestIDs returns the requestID of every record in the data
// directory's audit log files.
func auditRequestIDs(t *testing.T, data string) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob(auditPathOf(data) + "*")
	ids := map[string]map[string]any{}
	for _, name := range files {
		if fi, err := os.Lstat(name); err != nil || !fi.Mode().IsRegular() || !strings.Contains(filepath.Base(name), ".jsonl") ||
			strings.HasSuffix(name, ".head") || strings.Contains(name, "digest") {
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				continue
			}
			if id, _ := rec["requestID"].(string); id != "" {
				ids[id] = rec
			}
		}
		f.Close()
	}
	return ids
}

func requestID(t *testing.T, md middleware.Metadata) string {
	t.Helper()
	id, ok := awsmiddleware.GetRequestIDMetadata(md)
	if !ok || id == "" {
		t.Fatal("response carries no request id")
	}
	return id
}

func readyz(t *testing.T, p *proc) (int, string) {
	t.Helper()
	resp, err := http.Get(p.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeNoChangeWithoutItsRecord fills the audit disk under a running
// serve: a cryptographic call is refused (no plaintext leaves unaudited),
// a CreateKey that commits keeps its record in the store's outbox and the
// record reaches the log once the disk has room again; /readyz says why it
// is unready meanwhile.
func TestServeNoChangeWithoutItsRecord(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p, akid, secret := serveCreds(t, data)
	c := p.client(akid, secret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("payroll")})
	if err != nil {
		t.Fatal(err)
	}

	mend := breakAuditLog(t, data)
	if out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); errCode(err) != "KMSInternalException" {
		t.Fatalf("Decrypt with the audit disk full: %v (plaintext returned: %v), want KMSInternalException", err, out != nil)
	}
	created, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: awsString("made while the audit disk was full")})
	if err != nil {
		t.Fatalf("CreateKey with the audit disk full: %v; the change commits with its record in the outbox", err)
	}
	createdID := requestID(t, created.ResultMetadata)
	grant, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: created.KeyMetadata.KeyId, GranteePrincipal: awsString("arn:aws:iam::111122223333:root"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	if err != nil {
		t.Fatalf("CreateGrant with the audit disk full: %v", err)
	}
	scheduled, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: created.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatalf("ScheduleKeyDeletion with the audit disk full: %v", err)
	}
	// Each record kept in the outbox shows the answer its caller got.
	shipped := map[string]string{
		createdID:                              `{"keyMetadata":{"keyId":"` + *created.KeyMetadata.KeyId + `"}}`,
		requestID(t, grant.ResultMetadata):     `{"grantId":"` + *grant.GrantId + `"}`,
		requestID(t, scheduled.ResultMetadata): `{"keyId":"` + *scheduled.KeyId + `","keyState":"PendingDeletion","pendingWindowInDays":7}`,
	}
	ic := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: &p.url, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New(),
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")})
	user, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: awsString("made-while-full")})
	if err != nil {
		t.Fatalf("IAM CreateUser with the audit disk full: %v; the change commits with its record in the outbox", err)
	}
	userReqID := requestID(t, user.ResultMetadata)
	shipped[userReqID] = `{"user":{"userName":"made-while-full","userId":"` + *user.User.UserId + `"}}`
	if code, body := readyz(t, p); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit") {
		t.Fatalf("/readyz with the audit disk full: %d %q, want 503 naming the audit log", code, body)
	}
	if !strings.Contains(p.stderr.String(), "audit") {
		t.Fatalf("no audit failure in the log:\n%s", p.stderr)
	}
	if _, ok := auditRequestIDs(t, data)[createdID]; ok {
		t.Fatal("the record reached the log while it was /dev/full")
	}

	mend()
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := auditRequestIDs(t, data)
		if rec, ok := recs[createdID]; ok && recs[userReqID] != nil {
			extra, _ := rec["additionalEventData"].(map[string]any)
			if rec["eventName"] != "CreateKey" || extra["kmsdRecoveredFromOutbox"] != true {
				t.Fatalf("shipped record: %v", rec)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the committed CreateKey's record never reached the log\nstderr:\n%s", p.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	recs := auditRequestIDs(t, data)
	for id, want := range shipped {
		rec := recs[id]
		if extra, _ := rec["additionalEventData"].(map[string]any); extra["kmsdRecoveredFromOutbox"] != true {
			t.Fatalf("record %s was not shipped from the outbox: %v", id, rec)
		}
		if !jsonContains(t, rec["responseElements"], want) {
			t.Fatalf("%s record from the outbox: responseElements %v, want at least %s", rec["eventName"], rec["responseElements"], want)
		}
	}
	if rec, ok := recs[userReqID]; !ok || rec["eventName"] != "CreateUser" || rec["eventSource"] != "iam.amazonaws.com" {
		t.Fatalf("the committed IAM CreateUser's record: %v", rec)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt once the disk has room: %v", err)
	}
	if code, body := readyz(t, p); code != http.StatusOK {
		t.Fatalf("/readyz after the audit log recovered: %d %q", code, body)
	}
	p.stop()
}

// TestDevBestEffortAuditIsNeverSilent: kmsd dev answers while its audit
// disk is full, but logs each failure at once and turns /readyz unready
// with the reason and the count of unaudited answers.
func TestDevBestEffortAuditIsNeverSilent(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, docSecret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	mend := breakAuditLog(t, data)
	for range 5 {
		if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("dev Encrypt with the audit disk full: %v, want an answer (best effort)", err)
		}
	}
	code, body := readyz(t, p)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: audit log: ") || !strings.Contains(body, "5 responses answered without a durable audit record") {
		t.Fatalf("/readyz: %d %q, want 503 with the reason and the count", code, body)
	}
	if got := strings.Count(p.stderr.String(), "answering anyway"); got < 5 {
		t.Fatalf("%d of 5 unaudited answers logged:\n%s", got, p.stderr)
	}
	mend()
	if _, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(t, p); code != http.StatusOK {
		t.Fatalf("/readyz after the audit log recovered: %d %q", code, body)
	}
	p.stop()
}

func awsString(s string) *string { return &s }

// TestAuditTailCutIsCaughtByTheStoreAnchor: a writer of the log directory
// who removes the newest records together with the digests that cover them
// (and rewrites the head file) is caught by kmsd audit verify --data, which
// takes the public key and the anchor from the store, and kmsd refuses to
// start on such a log rather than burying the evidence.
func TestAuditTailCutIsCaughtByTheStoreAnchor(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, docSecret)
	for range 3 {
		if _, err := c.CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
			t.Fatal(err)
		}
	}
	p.stop() // the closing digest covers all three, and the store anchors it
	verifyAuditLog(t, data)

	log := auditPathOf(data)
	// Keep the first record only, and forge the head and digests files to
	// agree: drop the digests, which a forger cannot re-sign, and the head.
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	first := b[:strings.IndexByte(string(b), '\n')+1]
	if err := os.WriteFile(log, first, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{".head", ".digests"} {
		if err := os.Remove(log + suffix); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	err = run(ctx, []string{"audit", "verify", "--data", data}, &out, &out, os.Getenv)
	if err == nil {
		t.Fatalf("kmsd audit verify --data passed a log whose tail was cut:\n%s", out.String())
	}
	cmd := exec.Command(kmsdBin, "dev", "--data", data, "--listen", freeAddr(t))
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "audit") {
		t.Fatalf("kmsd started on a cut audit log: %v\n%s", err, msg)
	}
}

// jsonContains reports whether got holds every member of the JSON object
// want, recursively.
func jsonContains(t *testing.T, got any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	var contains func(g, w any) bool
	contains = func(g, w any) bool {
		wm, ok := w.(map[string]any)
		if !ok {
			return g == w
		}
		gm, ok := g.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range wm {
			if !contains(gm[k], v) {
				return false
			}
		}
		return true
	}
	return contains(got, w)
}
