package xksproxy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
)

func TestAuditRecordsEveryCallWithRequestMetadata(t *testing.T) {
	h := newHarness(t, nil)
	id := h.createKey(nil)
	canary := "CANARY-plaintext-7f3a9c"
	enc := h.post("/keys/"+id+"/encrypt", encryptBody(enc64([]byte(canary)), enc64([]byte("aad"))), signed{})
	ev := h.audit.last(t)
	md, _ := ev.RequestParameters["requestMetadata"].(map[string]any)
	if ev.EventSource != "kms-xks-proxy.amazonaws.com" || ev.EventName != "XksEncrypt" || ev.ErrorCode != "" ||
		md["kmsRequestId"] != "4112f4d6-db54-4af4-ae30-c55a22a8dfae" || md["awsPrincipalArn"] != "arn:aws:iam::123456789012:user/Alice" ||
		md["kmsViaService"] != "ebs" || ev.RequestParameters["externalKeyId"] != id || ev.UserIdentity.AccessKeyID != testAKID ||
		len(ev.Resources) != 1 || !strings.HasSuffix(ev.Resources[0].ARN, ":key/"+id) || ev.RecipientAccountID != testAccount ||
		ev.AdditionalEventData["keyMaterialId"] == "" {
		t.Fatalf("encrypt record: %+v", ev)
	}
	dec := h.post("/keys/"+id+"/decrypt", decryptBody(enc, enc64([]byte("aad"))), signed{})
	if dec.status != 200 || h.audit.last(t).EventName != "XksDecrypt" {
		t.Fatalf("decrypt: %s", dec.raw)
	}
	// Failures are recorded with the error name.
	h.post("/keys/"+id+"/encrypt", encryptBody("eA==", ""), signed{akid: testAKID, secret: testSecret2})
	if ev := h.audit.last(t); ev.ErrorCode != "AuthenticationFailedException" || ev.EventName != "XksEncrypt" || ev.RequestParameters != nil {
		t.Fatalf("failed-signature record: %+v", ev)
	}
	h.post("/keys/nope/metadata", map[string]any{"requestMetadata": metadata("CreateKey")}, signed{})
	if ev := h.audit.last(t); ev.ErrorCode != "KeyNotFoundException" || ev.EventName != "XksGetKeyMetadata" {
		t.Fatalf("not-found record: %+v", ev)
	}
	// No plaintext in any record or log line, in either direction.
	h.audit.mu.Lock()
	defer h.audit.mu.Unlock()
	for _, ev := range h.audit.events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{canary, enc64([]byte(canary)), testSecret} {
			if strings.Contains(string(b), leak) || strings.Contains(h.logs.String(), leak) {
				t.Fatalf("%q leaked into the audit record or log: %s", leak, b)
			}
		}
	}
	if len(h.audit.events) != 4 {
		t.Fatalf("%d records for 4 requests", len(h.audit.events))
	}
}

func TestAuditFailureRefusesUnlessBestEffort(t *testing.T) {
	for _, bestEffort := range []bool{false, true} {
		h := newHarness(t, func(c *Config) { c.BestEffortAudit = bestEffort })
		id := h.createKey(nil)
		enc := h.post("/keys/"+id+"/encrypt", encryptBody(enc64([]byte("secret")), ""), signed{})
		h.audit.failing = true
		dec := h.post("/keys/"+id+"/decrypt", decryptBody(enc, ""), signed{})
		switch {
		case !bestEffort && (dec.status != 500 || dec.errorName() != "InternalException" || dec.str("plaintext") != ""):
			t.Errorf("fail-closed: %d %s", dec.status, dec.raw)
		case bestEffort && dec.status != 200:
			t.Errorf("best effort: %d %s", dec.status, dec.raw)
		}
	}
}

func TestAllowedPrincipalsAndKeys(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AllowedPrincipals = []string{"arn:aws:iam::123456789012:role/ebs-*", "arn:aws:iam::123456789012:user/Bob"}
		c.AllowedKeyARNs = []string{"arn:aws:kms:us-east-1:123456789012:key/*"}
	})
	id := h.createKey(nil)
	body := encryptBody("eA==", "")
	wantError(t, "Alice", h.post("/keys/"+id+"/encrypt", body, signed{}), 403, "AccessDeniedException")
	if ev := h.audit.last(t); ev.ErrorCode != "AccessDeniedException" {
		t.Errorf("denial record: %+v", ev)
	}
	for _, p := range []string{"arn:aws:iam::123456789012:user/Bob", "arn:aws:iam::123456789012:role/ebs-writer"} {
		body["requestMetadata"].(map[string]any)["awsPrincipalArn"] = p
		if r := h.post("/keys/"+id+"/encrypt", body, signed{}); r.status != 200 {
			t.Errorf("%s: %d %s", p, r.status, r.raw)
		}
	}
	body["requestMetadata"].(map[string]any)["kmsKeyArn"] = "arn:aws:kms:us-east-1:999999999999:key/x"
	wantError(t, "other account's KMS key", h.post("/keys/"+id+"/encrypt", body, signed{}), 403, "AccessDeniedException")
	// GetHealthStatus is never subject to it.
	if r := h.post("/health", map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "1", "kmsOperation": "KmsHealthCheck"}}, signed{}); r.status != 200 {
		t.Errorf("health: %d %s", r.status, r.raw)
	}
}

func TestValidateCredential(t *testing.T) {
	for _, tc := range []struct {
		akid, secret string
		ok           bool
	}{
		{testAKID, testSecret, true},
		{strings.Repeat("A", 20), strings.Repeat("a", 43), true},
		{strings.Repeat("7", 30), strings.Repeat("+", 64), true},
		{strings.Repeat("A", 19), testSecret, false},
		{strings.Repeat("A", 31), testSecret, false},
		{"AKIAXKSPROXYTESTKEY2341", testSecret, false}, // 1 is not base32
		{"akiaxksproxytestkey2345", testSecret, false},
		{testAKID, strings.Repeat("a", 42), false},
		{testAKID, strings.Repeat("a", 65), false},
		{testAKID, strings.Repeat("a", 42) + "-", false},
	} {
		err := ValidateCredential(Credential{AccessKeyID: tc.akid, Secret: secret.Bytes(tc.secret)})
		if (err == nil) != tc.ok {
			t.Errorf("%s / %d chars: %v", tc.akid, len(tc.secret), err)
		}
		if err != nil && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	if _, err := New(Config{Backend: nil}); err == nil {
		t.Error("New without a backend")
	}
	dup := []Credential{{testAKID, secret.Bytes(testSecret)}, {testAKID, secret.Bytes(testSecret2)}}
	if _, err := newCredentialSet(dup); err == nil {
		t.Error("a duplicate access key id was accepted")
	}
}

func TestClientCertificateRequired(t *testing.T) {
	h := &Handler{cfg: Config{RequireClientCert: true, ClientCommonName: "cks.kms.us-east-1.amazonaws.com"}}
	cert := func(cn string) *x509.Certificate { return &x509.Certificate{Subject: pkix.Name{CommonName: cn}} }
	good := cert("cks.kms.us-east-1.amazonaws.com")
	for _, tc := range []struct {
		what string
		cs   *tls.ConnectionState
		ok   bool
	}{
		{"plain HTTP", nil, false},
		{"no certificate", &tls.ConnectionState{}, false},
		{"unverified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good}}, false},
		{"other CN", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("evil")}, VerifiedChains: [][]*x509.Certificate{{cert("evil")}}}, false},
		{"good", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good}, VerifiedChains: [][]*x509.Certificate{{good}}}, true},
	} {
		if err := h.checkClientCert(tc.cs); (err == nil) != tc.ok || (err != nil && err.name != "AuthenticationFailedException") {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
}

// TestAuditRecordStaysBounded: requestMetadata is free-form, so a caller
// holding a credential could send a huge one; its record is cut to the
// audit bounds rather than filling the log or failing the write.
func TestAuditRecordStaysBounded(t *testing.T) {
	h := newHarness(t, nil)
	md := metadata("CreateKey")
	md["future"] = strings.Repeat("x", 200<<10)
	h.post("/keys/missing/metadata", map[string]any{"requestMetadata": md}, signed{})
	b, err := json.Marshal(h.audit.last(t))
	if err != nil || len(b) > 200<<10 {
		t.Fatalf("record of %d bytes, %v", len(b), err)
	}
}

type recordingObserver struct {
	mu   sync.Mutex
	seen []string
}

func (o *recordingObserver) ObserveRequest(op, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, op+"/"+outcome)
}

func TestObserverSeesOperationAndOutcome(t *testing.T) {
	obs := &recordingObserver{}
	h := newHarness(t, func(c *Config) { c.Observer = obs })
	id := h.createKey(nil)
	h.post("/keys/"+id+"/encrypt", encryptBody("eA==", ""), signed{})
	h.post("/keys/"+id+"/encrypt", encryptBody("eA==", ""), signed{akid: testAKID, secret: testSecret2})
	h.post("/nope", nil, signed{})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if got := strings.Join(obs.seen, " "); got != "XksEncrypt/ok XksEncrypt/AuthenticationFailedException XksUnknownOperation/InvalidUriPathException" {
		t.Fatalf("observed %s", got)
	}
}
