package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kmsd/kmsd/internal/audit"
)

// sent is one request of an audit scenario and what its record must show.
type sent struct {
	requestID string
	eventName string
	errorCode string // "" for success
	keyARN    string // a resource the record must list, if any
}

// requestLog collects the requests a test made, with the request IDs the
// server answered with.
type requestLog struct {
	t    *testing.T
	sent []sent
}

// sdk records an SDK call: its result metadata on success, the response
// error's request ID on failure.
func (l *requestLog) sdk(name, keyARN string, md middleware.Metadata, err error) {
	l.t.Helper()
	s := sent{eventName: name, keyARN: keyARN}
	if err != nil {
		var re *awshttp.ResponseError
		if !errors.As(err, &re) {
			l.t.Fatalf("%s: %v is not an HTTP response error", name, err)
		}
		s.requestID = re.ServiceRequestID()
		s.errorCode = apiError(l.t, err).ErrorCode()
	} else {
		id, ok := awsmiddleware.GetRequestIDMetadata(md)
		if !ok {
			l.t.Fatalf("%s: no request ID in the response", name)
		}
		s.requestID = id
	}
	if s.requestID == "" {
		l.t.Fatalf("%s: empty request ID", name)
	}
	l.sent = append(l.sent, s)
}

// raw records a raw HTTP exchange.
func (l *requestLog) raw(name string, r rawResponse, wantCode string) {
	l.t.Helper()
	if wantCode != "" {
		wireError(l.t, r, wantCode)
	}
	l.sent = append(l.sent, sent{requestID: r.Header.Get("x-amzn-RequestId"), eventName: name, errorCode: wantCode})
}

func TestAuditOneRecordPerRequest(t *testing.T) {
	s := newServer(t)
	l := &requestLog{t: t}
	canary := []byte("CANARY-7f3a9c1e-d2b4-4e8f-a6c5-0b1d2e3f4a5b")
	ec := map[string]string{"app": "audit-test", "tenant": "t-42"}

	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{Description: aws.String("audited")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(ck.KeyMetadata.Arn)
	id := aws.ToString(ck.KeyMetadata.KeyId)
	l.sdk("CreateKey", arn, ck.ResultMetadata, nil)

	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: canary, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	l.sdk("Encrypt", arn, enc.ResultMetadata, nil)

	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || !bytes.Equal(dec.Plaintext, canary) {
		t.Fatalf("Decrypt: %v", err)
	}
	l.sdk("Decrypt", arn, dec.ResultMetadata, nil)

	gdk, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	l.sdk("GenerateDataKey", arn, gdk.ResultMetadata, nil)

	re, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	l.sdk("ReEncrypt", arn, re.ResultMetadata, nil)

	rnd, err := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatal(err)
	}
	l.sdk("GenerateRandom", "", rnd.ResultMetadata, nil)

	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("fake-key-id")})
	l.sdk("DescribeKey", "", middleware.Metadata{}, err)

	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	l.sdk("Decrypt", arn, middleware.Metadata{}, err)

	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: canary, DryRun: aws.Bool(true)})
	l.sdk("Encrypt", arn, middleware.Metadata{}, err)

	l.raw("MakeCoffee", s.post("TrentService.MakeCoffee", []byte(`{}`)), "UnknownOperationException")
	l.raw("ConnectCustomKeyStore", s.post("TrentService.ConnectCustomKeyStore", []byte(`{}`)), "ValidationException")
	l.raw("ListKeys", s.post("TrentService.ListKeys", []byte(`{"Limit":`)), "SerializationException")
	l.raw("Encrypt", s.post("TrentService.Encrypt", []byte(`{"KeyId":"`+id+`","Plaintext":"`+base64.StdEncoding.EncodeToString(make([]byte, 4097))+`"}`)), "ValidationException")
	l.raw("ListKeys", s.post("TrentService.ListKeys", nil), "")

	dk, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	l.sdk("DisableKey", arn, dk.ResultMetadata, nil)
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: canary, EncryptionContext: ec})
	l.sdk("Encrypt", arn, middleware.Metadata{}, err)

	if errCount := countErrors(l.sent); errCount < 8 {
		t.Fatalf("scenario has only %d failures", errCount)
	}

	records := s.readAudit()
	if len(records) != len(l.sent) {
		t.Fatalf("%d audit records for %d requests", len(records), len(l.sent))
	}
	byID := map[string]map[string]any{}
	for _, r := range records {
		id, _ := r["requestID"].(string)
		if _, dup := byID[id]; dup {
			t.Errorf("two records with requestID %s", id)
		}
		byID[id] = r
	}
	for i, want := range l.sent {
		rec, ok := byID[want.requestID]
		if !ok {
			t.Errorf("request %d (%s) with ID %s has no audit record", i, want.eventName, want.requestID)
			continue
		}
		checkRecord(t, rec, want, testAccount)
	}

	// Decrypt's request parameters show the encryption context, never the ciphertext.
	decRec := byID[l.sent[2].requestID]
	params, _ := decRec["requestParameters"].(map[string]any)
	gotEC, _ := params["encryptionContext"].(map[string]any)
	if len(gotEC) != 2 || gotEC["app"] != "audit-test" || gotEC["tenant"] != "t-42" {
		t.Errorf("Decrypt requestParameters.encryptionContext = %v", params["encryptionContext"])
	}
	for _, r := range records {
		p, _ := r["requestParameters"].(map[string]any)
		for k := range p {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "ciphertext") || strings.Contains(lk, "plaintext") {
				t.Errorf("%s record has requestParameters.%s", r["eventName"], k)
			}
		}
		e, _ := r["responseElements"].(map[string]any)
		for k := range e {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "ciphertext") || strings.Contains(lk, "plaintext") {
				t.Errorf("%s record has responseElements.%s", r["eventName"], k)
			}
		}
	}

	rep, err := audit.VerifyFile(s.AuditPath)
	if err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	if rep.Records != len(l.sent) {
		t.Errorf("VerifyFile counted %d records, want %d", rep.Records, len(l.sent))
	}

	// No secret reaches the audit file in any common encoding.
	raw, err := os.ReadFile(s.AuditPath)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"canary":              canary,
		"data key":            gdk.Plaintext,
		"random bytes":        rnd.Plaintext,
		"ciphertext":          enc.CiphertextBlob,
		"re-encrypted blob":   re.CiphertextBlob,
		"data key ciphertext": gdk.CiphertextBlob,
	}
	for name, b := range secrets {
		for how, form := range encodings(b) {
			if bytes.Contains(raw, []byte(form)) {
				t.Errorf("the audit file contains the %s (%s)", name, how)
			}
		}
	}
}

func countErrors(s []sent) int {
	n := 0
	for _, x := range s {
		if x.errorCode != "" {
			n++
		}
	}
	return n
}

// encodings are the forms a leaked secret could take in a JSON file.
func encodings(b []byte) map[string]string {
	forms := map[string]string{
		"hex":            hex.EncodeToString(b),
		"HEX":            strings.ToUpper(hex.EncodeToString(b)),
		"base64":         base64.StdEncoding.EncodeToString(b),
		"base64 url":     base64.URLEncoding.EncodeToString(b),
		"base64 raw":     base64.RawStdEncoding.EncodeToString(b),
		"base64 raw url": base64.RawURLEncoding.EncodeToString(b),
	}
	if printable(b) {
		forms["raw"] = string(b)
	}
	// Any 16-byte window of a long secret, so a truncated copy is caught too.
	if len(b) > 24 {
		forms["base64 prefix"] = base64.StdEncoding.EncodeToString(b[:18])
		forms["hex prefix"] = hex.EncodeToString(b[:16])
	}
	return forms
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(b) > 0
}

// checkRecord checks the fields a CloudTrail consumer relies on.
func checkRecord(t *testing.T, rec map[string]any, want sent, account string) {
	t.Helper()
	name := want.eventName
	if got := rec["eventName"]; got != want.eventName {
		t.Errorf("%s: eventName = %v", name, got)
	}
	if got := rec["eventSource"]; got != "kms.amazonaws.com" {
		t.Errorf("%s: eventSource = %v", name, got)
	}
	if got := rec["eventVersion"]; got == nil || got == "" {
		t.Errorf("%s: no eventVersion", name)
	}
	if got := rec["eventID"]; got == nil || got == "" || got == want.requestID {
		t.Errorf("%s: eventID = %v", name, got)
	}
	if got, _ := rec["eventTime"].(string); !strings.HasSuffix(got, "Z") {
		t.Errorf("%s: eventTime = %q", name, got)
	}
	if got := rec["sourceIPAddress"]; got != "127.0.0.1" {
		t.Errorf("%s: sourceIPAddress = %v", name, got)
	}
	if account != "" {
		if got := rec["awsRegion"]; got != testRegion {
			t.Errorf("%s: awsRegion = %v", name, got)
		}
		if got := rec["recipientAccountId"]; got != account {
			t.Errorf("%s: recipientAccountId = %v", name, got)
		}
		ui, _ := rec["userIdentity"].(map[string]any)
		if ui["accountId"] != account || ui["type"] != "Root" {
			t.Errorf("%s: userIdentity = %v", name, ui)
		}
	}
	got, hasCode := rec["errorCode"].(string)
	switch {
	case want.errorCode == "" && hasCode:
		t.Errorf("%s succeeded but its record has errorCode %q", name, got)
	case want.errorCode != "" && got != want.errorCode:
		t.Errorf("%s: errorCode = %q, want %q", name, got, want.errorCode)
	}
	if want.errorCode == "" && rec["errorMessage"] != nil {
		t.Errorf("%s succeeded but its record has errorMessage %v", name, rec["errorMessage"])
	}
	if want.keyARN != "" {
		found := false
		res, _ := rec["resources"].([]any)
		for _, r := range res {
			m, _ := r.(map[string]any)
			if m["ARN"] == want.keyARN {
				found = true
				if m["type"] != "AWS::KMS::Key" || m["accountId"] != testAccount {
					t.Errorf("%s: resource %v", name, m)
				}
			}
		}
		if !found {
			t.Errorf("%s: resources %v lack %s", name, rec["resources"], want.keyARN)
		}
	}
}

// TestAuditAuthenticationFailures: with SigV4 enforced, requests that fail
// authentication are audited too, each under the request ID it was answered with.
func TestAuditAuthenticationFailures(t *testing.T) {
	s := startServer(t, serverOptions{strict: true})
	l := &requestLog{t: t}

	out, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatalf("signed ListKeys: %v", err)
	}
	l.sdk("ListKeys", "", out.ResultMetadata, nil)

	_, err = newClient(s.URL, testRegion, testAccessKey, "wrong-secret").ListKeys(bg, &kms.ListKeysInput{})
	wantCode(t, err, "InvalidSignatureException")
	l.sdk("ListKeys", "", middleware.Metadata{}, err)

	_, err = newClient(s.URL, testRegion, "AKIAUNKNOWNKEY000000", testSecretKey).ListKeys(bg, &kms.ListKeysInput{})
	wantCode(t, err, "UnrecognizedClientException")
	l.sdk("ListKeys", "", middleware.Metadata{}, err)

	r := s.post("TrentService.ListKeys", []byte(`{}`))
	if r.Status != 403 && r.Status != 400 {
		t.Errorf("unsigned request: status %d", r.Status)
	}
	l.raw("ListKeys", r, "MissingAuthenticationTokenException")

	_, err = newClient(s.URL, testRegion, testAccessKey, "wrong-secret").Encrypt(bg, &kms.EncryptInput{KeyId: aws.String("alias/x"), Plaintext: []byte("CANARY-unauthenticated")})
	wantCode(t, err, "InvalidSignatureException")
	l.sdk("Encrypt", "", middleware.Metadata{}, err)

	records := s.readAudit()
	if len(records) != len(l.sent) {
		t.Fatalf("%d audit records for %d requests", len(records), len(l.sent))
	}
	byID := map[string]map[string]any{}
	for _, r := range records {
		byID[r["requestID"].(string)] = r
	}
	for i, want := range l.sent {
		rec, ok := byID[want.requestID]
		if !ok {
			t.Errorf("request %d (%s %s) has no audit record", i, want.eventName, want.errorCode)
			continue
		}
		account := ""
		if want.errorCode == "" {
			account = testAccount
		}
		checkRecord(t, rec, want, account)
	}
	if _, err := audit.VerifyFile(s.AuditPath); err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	raw, _ := os.ReadFile(s.AuditPath)
	if bytes.Contains(raw, []byte("CANARY-unauthenticated")) || bytes.Contains(raw, []byte("wrong-secret")) || bytes.Contains(raw, []byte(testSecretKey)) {
		t.Error("the audit file holds a plaintext or a secret")
	}
}
