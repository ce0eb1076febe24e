package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestWireMemberNamesAsAWS sends bodies that a lenient decoder and AWS read
// differently, so that a proxy in front of kmsd (checking KeyId, say) and
// kmsd itself could disagree on what was asked. Each must be read as AWS
// reads it: names match exactly, a name given twice is refused, strings are
// valid UTF-8 without lone surrogates, unknown members are ignored.
func TestWireMemberNamesAsAWS(t *testing.T) {
	s := newServer(t)
	keyA, keyB := mustKeyID(t, s), mustKeyID(t, s)
	pt := base64.StdEncoding.EncodeToString([]byte("hello"))
	cases := []struct {
		name string
		body string
		code string // "" for success
		key  string // on success, the key that must have encrypted
	}{
		{"lower-case name is an unknown member", `{"keyid":"` + keyA + `","Plaintext":"` + pt + `"}`, "ValidationException", ""},
		{"upper-case name is an unknown member", `{"KEYID":"` + keyA + `","Plaintext":"` + pt + `"}`, "ValidationException", ""},
		{"a case variant beside the real name is ignored", `{"KeyId":"` + keyA + `","keyId":"` + keyB + `","Plaintext":"` + pt + `"}`, "", keyA},
		{"a case variant before the real name is ignored", `{"KEYID":"` + keyB + `","KeyId":"` + keyA + `","Plaintext":"` + pt + `"}`, "", keyA},
		{"duplicate member", `{"KeyId":"` + keyA + `","KeyId":"` + keyB + `","Plaintext":"` + pt + `"}`, "SerializationException", ""},
		{"duplicate unknown member", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","X":1,"X":2}`, "SerializationException", ""},
		{"duplicate encryption context key", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","EncryptionContext":{"k":"1","k":"2"}}`, "SerializationException", ""},
		{"invalid UTF-8 in a value", "{\"KeyId\":\"" + keyA + "\",\"Plaintext\":\"" + pt + "\",\"EncryptionContext\":{\"k\":\"a\xffb\"}}", "SerializationException", ""},
		{"invalid UTF-8 in a name", "{\"KeyId\":\"" + keyA + "\",\"Plaintext\":\"" + pt + "\",\"\xc3\x28\":1}", "SerializationException", ""},
		{"lone high surrogate", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","EncryptionContext":{"k":"\ud800"}}`, "SerializationException", ""},
		{"lone low surrogate", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","EncryptionContext":{"k":"x\udc00y"}}`, "SerializationException", ""},
		{"reversed surrogate pair", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","EncryptionContext":{"\udc00\ud800":"v"}}`, "SerializationException", ""},
		{"unknown members of any shape are ignored", `{"KeyId":"` + keyA + `","Plaintext":"` + pt + `","NotAMember":{"a":[1,{"b":null}],"c":"d"},"Other":true}`, "", keyA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post("TrentService.Encrypt", []byte(tc.body))
			if tc.code != "" {
				wireError(t, r, tc.code)
				return
			}
			if r.Status != http.StatusOK {
				t.Fatalf("status %d %s, want success", r.Status, r.Body)
			}
			var out struct{ KeyId string }
			if err := json.Unmarshal(r.Body, &out); err != nil {
				t.Fatal(err)
			}
			if out.KeyId != keyARN(testRegion, tc.key) {
				t.Errorf("encrypted under %s, want %s", out.KeyId, keyARN(testRegion, tc.key))
			}
		})
	}

	// A proper surrogate pair is a character like any other: what was
	// encrypted with it through raw JSON decrypts with it through the SDK.
	r := s.post("TrentService.Encrypt", []byte(`{"KeyId":"`+keyA+`","Plaintext":"`+pt+`","EncryptionContext":{"face":"\ud83d\ude00"}}`))
	if r.Status != http.StatusOK {
		t.Fatalf("Encrypt with a surrogate pair: %d %s", r.Status, r.Body)
	}
	var enc struct{ CiphertextBlob []byte }
	if err := json.Unmarshal(r.Body, &enc); err != nil {
		t.Fatal(err)
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"face": "\U0001F600"}})
	if err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("Decrypt with the same context: %v", err)
	}

	// Every request, refused or not, left exactly one record.
	recs := s.readAudit()
	if want := 2 + len(cases) + 2; len(recs) != want {
		t.Fatalf("%d audit records, want %d", len(recs), want)
	}
	for i, tc := range cases {
		rec := recs[2+i]
		if got, _ := rec["errorCode"].(string); got != tc.code {
			t.Errorf("%s: audit errorCode %q, want %q", tc.name, got, tc.code)
		}
	}
}

// TestWireSDKNamesDecode checks that what the AWS SDK sends still decodes
// under exact name matching, members with their own shapes included.
func TestWireSDKNamesDecode(t *testing.T) {
	s := newServer(t)
	key := s.createKey("names")
	ec := map[string]string{"Dept": "10103.0", "dept": "other"}
	out := s.encrypt(*key.KeyId, []byte("x"), ec)
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec, KeyId: key.KeyId})
	if err != nil || string(dec.Plaintext) != "x" {
		t.Fatalf("Decrypt: %v", err)
	}
	// Context keys differing only in case are two keys, not one.
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"Dept": "10103.0"}})
	wantCode(t, err, "InvalidCiphertextException")
	if _, err := s.Client.ListKeys(bg, &kms.ListKeysInput{Limit: aws.Int32(1)}); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
}
