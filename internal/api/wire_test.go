package api_test

import (
	"bytes"
	"crypto/fips140"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestWireErrors sends requests the SDK would never send and checks that each
// gets an AWS JSON 1.1 error of the right type, never a server fault.
func TestWireErrors(t *testing.T) {
	s := newServer(t)
	keyID := mustKeyID(t, s)
	cases := []struct {
		name   string
		target string
		body   string
		code   string
	}{
		{"unknown operation", "TrentService.MakeCoffee", `{}`, "UnknownOperationException"},
		{"no target", "", `{}`, "UnknownOperationException"},
		{"wrong service prefix", "KeyService.ListKeys", `{}`, "UnknownOperationException"},
		{"target without operation", "TrentService.", `{}`, "UnknownOperationException"},
		{"lower-case operation", "TrentService.listKeys", `{}`, "UnknownOperationException"},
		{"required member missing: ConnectCustomKeyStore", "TrentService.ConnectCustomKeyStore", `{}`, "ValidationException"},
		{"no such custom key store", "TrentService.DisconnectCustomKeyStore", `{"CustomKeyStoreId":"cks-1234567890abcdef0"}`, "CustomKeyStoreNotFoundException"},
		{"truncated JSON", "TrentService.DescribeKey", `{"KeyId":`, "SerializationException"},
		{"not JSON", "TrentService.ListKeys", `KeyId=abc`, "SerializationException"},
		{"trailing garbage", "TrentService.ListKeys", `{}}`, "SerializationException"},
		{"array body", "TrentService.ListKeys", `[]`, "SerializationException"},
		{"string body", "TrentService.ListKeys", `"hello"`, "SerializationException"},
		{"number body", "TrentService.ListKeys", `42`, "SerializationException"},
		{"string where number", "TrentService.ListKeys", `{"Limit":"10"}`, "SerializationException"},
		{"fraction where integer", "TrentService.ListKeys", `{"Limit":1.5}`, "SerializationException"},
		{"integer overflow", "TrentService.ListKeys", `{"Limit":1e20}`, "SerializationException"},
		{"number where string", "TrentService.DescribeKey", `{"KeyId":123}`, "SerializationException"},
		{"boolean where string", "TrentService.DescribeKey", `{"KeyId":true}`, "SerializationException"},
		{"object where string", "TrentService.DescribeKey", `{"KeyId":{}}`, "SerializationException"},
		{"array where object", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"aGk=","EncryptionContext":["a","b"]}`, "SerializationException"},
		{"number in map", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"aGk=","EncryptionContext":{"a":1}}`, "SerializationException"},
		{"object where array", "TrentService.CreateKey", `{"Tags":{"TagKey":"a","TagValue":"b"}}`, "SerializationException"},
		{"string where boolean", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"aGk=","DryRun":"true"}`, "SerializationException"},
		{"invalid base64", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"not base64!!"}`, "SerializationException"},
		{"invalid base64 ciphertext", "TrentService.Decrypt", `{"CiphertextBlob":"%%%%"}`, "SerializationException"},
		{"number where blob", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":12}`, "SerializationException"},
		{"missing required member", "TrentService.DescribeKey", `{}`, "ValidationException"},
		{"empty body, required member", "TrentService.Encrypt", ``, "ValidationException"},
		{"bad enum", "TrentService.GenerateDataKey", `{"KeyId":"` + keyID + `","KeySpec":"AES_999"}`, "ValidationException"},
	}
	ids := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.target, []byte(tc.body))
			msg := wireError(t, r, tc.code)
			if r.Status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", r.Status)
			}
			if et := r.Header.Get("x-amzn-ErrorType"); et != "" && !strings.HasPrefix(et, tc.code) {
				t.Errorf("x-amzn-ErrorType %q disagrees with __type %q", et, tc.code)
			}
			if tc.code == "SerializationException" && strings.Contains(msg, "not base64!!") {
				t.Errorf("message echoes the request value: %q", msg)
			}
			id := r.Header.Get("x-amzn-RequestId")
			if ids[id] {
				t.Errorf("request ID %s reused", id)
			}
			ids[id] = true
		})
	}
	// None of that created anything.
	r := s.post("TrentService.ListKeys", nil)
	var lk struct{ Keys []any }
	if err := json.Unmarshal(r.Body, &lk); err != nil || len(lk.Keys) != 1 {
		t.Errorf("after the bad requests ListKeys = %s", r.Body)
	}
}

func mustKeyID(t *testing.T, s *testServer) string {
	t.Helper()
	r := s.post("TrentService.CreateKey", []byte(`{}`))
	if r.Status != http.StatusOK {
		t.Fatalf("CreateKey: %d %s", r.Status, r.Body)
	}
	var out struct{ KeyMetadata struct{ KeyId string } }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.KeyMetadata.KeyId == "" {
		t.Fatalf("CreateKey body %s: %v", r.Body, err)
	}
	return out.KeyMetadata.KeyId
}

func TestWireBodyLimit(t *testing.T) {
	s := newServer(t)
	keyID := mustKeyID(t, s)
	// A body just over 1 MiB: a huge, otherwise well-formed request.
	big := `{"KeyId":"` + keyID + `","Plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 800<<10)) + `"}`
	if len(big) <= 1<<20 {
		t.Fatalf("body is only %d bytes", len(big))
	}
	r := s.post("TrentService.Encrypt", []byte(big))
	if r.Status < 400 || r.Status >= 500 {
		t.Fatalf("status %d for a %d-byte body, want a 4xx", r.Status, len(big))
	}
	var eb struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.Body, &eb); err != nil || eb.Type == "" {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	if r.Header.Get("Content-Type") != "application/x-amz-json-1.1" || r.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("headers %v", r.Header)
	}
	// The server still answers afterwards.
	if r := s.post("TrentService.ListKeys", []byte(`{}`)); r.Status != http.StatusOK {
		t.Errorf("ListKeys after the big body: %d", r.Status)
	}
	// A plaintext of 4097 bytes is a ValidationException, not a body-size error.
	mid := `{"KeyId":"` + keyID + `","Plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 4097)) + `"}`
	wireError(t, s.post("TrentService.Encrypt", []byte(mid)), "ValidationException")
}

func TestWireSuccessShape(t *testing.T) {
	s := newServer(t)

	// An empty body is an empty input.
	r := s.post("TrentService.ListKeys", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("ListKeys with an empty body: %d %s", r.Status, r.Body)
	}
	checkSuccessHeaders(t, r)
	var lk map[string]any
	if err := json.Unmarshal(r.Body, &lk); err != nil {
		t.Fatalf("ListKeys body %q: %v", r.Body, err)
	}
	if keys, ok := lk["Keys"].([]any); !ok || len(keys) != 0 || lk["Truncated"] != false {
		t.Errorf("ListKeys of nothing = %s", r.Body)
	}

	// Unknown members are ignored, and Content-Type may be left out.
	r = s.do("TrentService.CreateKey", "", []byte(`{"Description":"wire","NotAMember":[1,2,3]}`))
	if r.Status != http.StatusOK {
		t.Fatalf("CreateKey: %d %s", r.Status, r.Body)
	}
	checkSuccessHeaders(t, r)
	var ck struct {
		KeyMetadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(r.Body, &ck); err != nil {
		t.Fatal(err)
	}
	// Timestamps are epoch seconds as JSON numbers.
	var created float64
	if err := json.Unmarshal(ck.KeyMetadata["CreationDate"], &created); err != nil || created < 1e9 {
		t.Errorf("CreationDate %s is not epoch seconds", ck.KeyMetadata["CreationDate"])
	}
	for _, absent := range []string{"DeletionDate", "ValidTo", "SigningAlgorithms", "MacAlgorithms", "MultiRegionConfiguration", "PendingDeletionWindowInDays"} {
		if v, ok := ck.KeyMetadata[absent]; ok {
			t.Errorf("KeyMetadata has %s = %s; AWS leaves it out", absent, v)
		}
	}
	var keyID string
	_ = json.Unmarshal(ck.KeyMetadata["KeyId"], &keyID)

	// Blobs are standard padded base64.
	r = s.post("TrentService.Encrypt", []byte(`{"KeyId":"`+keyID+`","Plaintext":"aGVsbG8="}`))
	if r.Status != http.StatusOK {
		t.Fatalf("Encrypt: %d %s", r.Status, r.Body)
	}
	var enc struct{ CiphertextBlob, KeyId, EncryptionAlgorithm string }
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		t.Fatal(err)
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(enc.CiphertextBlob); err != nil {
		t.Errorf("CiphertextBlob %q is not standard base64: %v", enc.CiphertextBlob, err)
	}
	r = s.post("TrentService.Decrypt", []byte(`{"CiphertextBlob":"`+enc.CiphertextBlob+`"}`))
	var dec struct{ Plaintext string }
	if err := json.Unmarshal(r.Body, &dec); err != nil || dec.Plaintext != "aGVsbG8=" {
		t.Errorf("Decrypt = %d %s", r.Status, r.Body)
	}

	// A void operation answers 200 with an empty body (or {}).
	r = s.post("TrentService.DisableKey", []byte(`{"KeyId":"`+keyID+`"}`))
	if r.Status != http.StatusOK {
		t.Fatalf("DisableKey: %d %s", r.Status, r.Body)
	}
	if b := bytes.TrimSpace(r.Body); len(b) != 0 && string(b) != "{}" {
		t.Errorf("DisableKey body %q, want empty", r.Body)
	}
	if r.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId on a void operation")
	}

	// Health endpoints.
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status  string
		FIPS140 struct {
			Enabled, Enforced bool
			Version           string
		} `json:"fips140"`
	}
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || health.Status != "ok" {
		t.Errorf("/healthz: %d %+v %v", resp.StatusCode, health, err)
	}
	if health.FIPS140.Enforced != fips140.Enforced() || health.FIPS140.Enabled != fips140.Enabled() || health.FIPS140.Version != fips140.Version() {
		t.Errorf("/healthz reports FIPS 140 %+v; the process has enabled=%v enforced=%v version=%s",
			health.FIPS140, fips140.Enabled(), fips140.Enforced(), fips140.Version())
	}
}

func checkSuccessHeaders(t *testing.T, r rawResponse) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId")
	}
}

func TestWireNonPostRequests(t *testing.T) {
	s := newServer(t)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, s.URL+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s /: status %d, want a 4xx", method, resp.StatusCode)
		}
	}
}
