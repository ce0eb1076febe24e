package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedCall sends ListKeys signed by hand, as an SDK would, with the
// given credentials, Region and signing time. It returns the response and
// the signature the request carried.
func signedCall(t *testing.T, url, akid, secret, service, region string, at time.Time) (resp *http.Response, body map[string]string, signature string) {
	t.Helper()
	payload := []byte("{}")
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	signature = regexp.MustCompile(`Signature=([0-9a-f]+)`).FindStringSubmatch(req.Header.Get("Authorization"))[1]
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp, body, signature
}

// TestServeLogsWhyAuthenticationFailed: under serve, the client gets AWS's
// exception and text, while the server's log says which access key was
// unknown or which check of the signature failed, with the request ID, and
// never the secret or the signature the server expected.
func TestServeLogsWhyAuthenticationFailed(t *testing.T) {
	p := startKMSD(t, "serve", "--data", t.TempDir())
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve did not print a bootstrap access key:\n%s", p.stdout)
	}
	akid, secret := m[1], m[2]
	now := time.Now().UTC()
	if resp, _, _ := signedCall(t, p.url, akid, secret, "kms", "us-east-1", now); resp.StatusCode != http.StatusOK {
		t.Fatalf("a good request: HTTP %d", resp.StatusCode)
	}
	const unknown = "AKIAZZZZZZZZZZZZZZZZ"
	for _, tc := range []struct {
		name, akid, secret, service, region string
		at                                  time.Time
		code, clientMsg, logReason          string
	}{
		{"unknown access key", unknown, secret, "kms", "us-east-1", now, "UnrecognizedClientException",
			"The security token included in the request is invalid.", "the access key is not known to this server"},
		{"wrong secret", akid, secret + "x", "kms", "us-east-1", now, "InvalidSignatureException",
			"The request signature we calculated does not match", "The request signature we calculated does not match"},
		{"expired date", akid, secret, "kms", "us-east-1", now.Add(-10 * time.Minute), "InvalidSignatureException",
			"Signature expired: ", "Signature expired: "},
		{"wrong scope", akid, secret, "s3", "us-east-1", now, "InvalidSignatureException",
			"Credential should be scoped to correct service: 'kms'.", "Credential should be scoped to correct service: 'kms'."},
	} {
		before := len(p.stderr.String())
		resp, body, sig := signedCall(t, p.url, tc.akid, tc.secret, tc.service, tc.region, tc.at)
		if body["__type"] != tc.code || !strings.HasPrefix(body["message"], tc.clientMsg) {
			t.Errorf("%s: client got %v; want %s: %s", tc.name, body, tc.code, tc.clientMsg)
		}
		if strings.Contains(body["message"], tc.akid) && tc.code == "UnrecognizedClientException" {
			t.Errorf("%s: the client's message says more than AWS's: %s", tc.name, body["message"])
		}
		reqID := resp.Header.Get("X-Amzn-Requestid")
		var line map[string]any
		for i := 0; i < 100 && line == nil; i++ {
			for _, l := range strings.Split(p.stderr.String()[before:], "\n") {
				if strings.Contains(l, reqID) && strings.Contains(l, "authentication failed") {
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatalf("%s: log line is not JSON: %s", tc.name, l)
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if line == nil {
			t.Errorf("%s: no log line for request %s explains the refusal:\n%s", tc.name, reqID, p.stderr.String()[before:])
			continue
		}
		cause, _ := line["error"].(string)
		if line["level"] != "WARN" || !strings.Contains(cause, "credential "+tc.akid+"/") || !strings.Contains(cause, "/"+tc.region+"/"+tc.service+"/aws4_request") || !strings.Contains(cause, tc.logReason) {
			t.Errorf("%s: log line %v; want a WARN naming %s, the scope's Region %s and %q", tc.name, line, tc.akid, tc.region, tc.logReason)
		}
		// The signature the server expected is the one a request signed
		// with the real secret at the same moment carries.
		_, _, expected := signedCall(t, p.url, akid, secret, tc.service, tc.region, tc.at)
		if log := p.stderr.String(); strings.Contains(log, secret) || strings.Contains(log, sig) || strings.Contains(log, expected) {
			t.Errorf("%s: the log holds the secret or a signature", tc.name)
		}
	}
	p.stop()
}
