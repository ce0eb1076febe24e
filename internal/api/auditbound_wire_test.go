package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestAuditRecordBoundedWhateverSent sends requests of nearly a megabyte
// that a caller needs no permission to send. Each must be answered with
// the right client error, never a server fault for want of an audit
// record, and leave exactly one record, small, that says what was cut.
func TestAuditRecordBoundedWhateverSent(t *testing.T) {
	s := newServer(t)
	keyID := mustKeyID(t, s)
	pt := base64.StdEncoding.EncodeToString([]byte("hello"))
	huge := strings.Repeat("k", 900<<10)
	hugeSum := sha256.Sum256([]byte(huge))

	// A huge encryption context through the AWS SDK, as any caller can send.
	bigEC := make(map[string]string, 30000)
	for i := range 30000 {
		bigEC[fmt.Sprintf("key-%06d", i)] = fmt.Sprintf("value-%06d", i)
	}
	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello"), EncryptionContext: bigEC})
	wantError(t, err, "ValidationException", "1 validation error detected: Value at 'encryptionContext' failed to satisfy constraint: Member must have a total size of keys and values less than or equal to 8192 bytes")
	var re *awshttp.ResponseError
	ecRequestID := ""
	if errors.As(err, &re) {
		ecRequestID = re.ServiceRequestID()
	}

	type sent struct {
		name, target, body, code string
		cut                      string // the member cut in the record, noted with the digest of huge
	}
	cases := []sent{
		{"huge key ID", "TrentService.Encrypt", `{"KeyId":"` + huge + `","Plaintext":"` + pt + `"}`, "ValidationException", "keyId"},
		{"huge description", "TrentService.CreateKey", `{"Description":"` + huge + `"}`, "ValidationException", "description"},
		{"huge alias name", "TrentService.DeleteAlias", `{"AliasName":"` + huge + `"}`, "ValidationException", "aliasName"},
		{"huge unknown members", "TrentService.Encrypt", `{"KeyId":"` + keyID + `","Plaintext":"` + pt + `","Junk":"` + huge + `","More":[` + strings.Repeat(`{"a":"b"},`, 10000) + `1]}`, "", ""},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		if len(tc.body) < 900<<10 || len(tc.body) > 1<<20 {
			t.Fatalf("%s: body is %d bytes", tc.name, len(tc.body))
		}
		r := s.post(tc.target, []byte(tc.body))
		if tc.code != "" {
			msg := wireError(t, r, tc.code)
			if len(msg) > 16<<10 {
				t.Errorf("%s: %d-byte error message", tc.name, len(msg))
			}
		} else if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d %.200s", tc.name, r.Status, r.Body)
		}
		ids[i] = r.Header.Get("x-amzn-RequestId")
	}

	s.Stop()
	raw, err := os.ReadFile(s.AuditPath)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var rec struct{ RequestID string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		byID[rec.RequestID] = append(byID[rec.RequestID], line)
	}
	check := func(name, id, code string) map[string]any {
		t.Helper()
		lines := byID[id]
		if len(lines) != 1 {
			t.Fatalf("%s: %d audit records for request %q, want 1", name, len(lines), id)
		}
		// CloudTrail caps an event at 256 KB; these stay far below it.
		if len(lines[0]) > 64<<10 {
			t.Errorf("%s: audit record is %d bytes", name, len(lines[0]))
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
			t.Fatal(err)
		}
		if got, _ := rec["errorCode"].(string); got != code {
			t.Errorf("%s: errorCode %q, want %q", name, got, code)
		}
		return rec
	}

	rec := check("huge encryption context", ecRequestID, "ValidationException")
	params, _ := rec["requestParameters"].(map[string]any)
	ec, _ := params["encryptionContext"].(map[string]any)
	if params["omitted"] != true || params["keyId"] != keyID || len(ec) < 100 || ec["key-000000"] != "value-000000" || !strings.HasSuffix(fmt.Sprint(ec["[truncated]"]), " more entries") {
		t.Errorf("huge encryption context recorded as omitted=%v keyId=%v, %d context entries, note %v", params["omitted"], params["keyId"], len(ec), ec["[truncated]"])
	}

	for i, tc := range cases {
		rec := check(tc.name, ids[i], tc.code)
		params, _ := rec["requestParameters"].(map[string]any)
		if tc.cut == "" {
			if params["omitted"] != nil || params["keyId"] != keyID {
				t.Errorf("%s: requestParameters %v", tc.name, params)
			}
			continue
		}
		v, _ := params[tc.cut].(string)
		if params["omitted"] != true || !strings.HasPrefix(v, "kkkk") || !strings.Contains(v, fmt.Sprintf("%d bytes, sha256 %s", len(huge), hex.EncodeToString(hugeSum[:]))) {
			t.Errorf("%s: %s recorded as %.100q (omitted=%v)", tc.name, tc.cut, v, params["omitted"])
		}
		if msg, _ := rec["errorMessage"].(string); !strings.HasPrefix(msg, "1 validation error detected: Value '") || len(msg) > 16<<10 {
			t.Errorf("%s: errorMessage of %d bytes: %.80q", tc.name, len(msg), msg)
		}
	}
}

// TestEncryptionContextLimit checks the bound on the encryption context at
// its edge, through the SDK: 8192 bytes of keys and values round-trip, one
// byte more is a ValidationException.
func TestEncryptionContextLimit(t *testing.T) {
	s := newServer(t)
	keyID := *s.createKey("ec limit").KeyId
	ec := map[string]string{"a": strings.Repeat("é", 4000), "b": strings.Repeat("v", 8192-1-8000-1)}
	out := s.encrypt(keyID, []byte("x"), ec)
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "x" {
		t.Fatalf("Decrypt with an 8192-byte context: %v", err)
	}
	ec["b"] += "v"
	const msg = "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have a total size of keys and values less than or equal to 8192 bytes"
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"), EncryptionContext: ec})
	wantError(t, err, "ValidationException", fmt.Sprintf(msg, "encryptionContext"))
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
	wantError(t, err, "ValidationException", fmt.Sprintf(msg, "encryptionContext"))
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(32), EncryptionContext: ec})
	wantError(t, err, "ValidationException", fmt.Sprintf(msg, "encryptionContext"))
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: out.CiphertextBlob, DestinationKeyId: aws.String(keyID), DestinationEncryptionContext: ec})
	wantError(t, err, "ValidationException", fmt.Sprintf(msg, "destinationEncryptionContext"))
}
