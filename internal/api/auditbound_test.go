package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// encodedSize is the size of v as the audit log writes it (encoding/json,
// which the audit encoder matches byte for byte).
func encodedSize(t *testing.T, v map[string]any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestBoundViewKeepsSmallViews(t *testing.T) {
	v := map[string]any{
		"keyId":             "alias/app",
		"encryptionContext": map[string]any{"tenant": "t-42", "purpose": "test"},
		"grantTokens":       []any{"a", "b"},
		"dryRun":            false,
		"numberOfBytes":     int32(32),
	}
	if got := boundView(v); fmt.Sprintf("%p", got) != fmt.Sprintf("%p", v) {
		t.Fatal("a small view was copied")
	}
	if n := testing.AllocsPerRun(100, func() { boundView(v) }); n != 0 {
		t.Errorf("boundView of a small view allocates %v times", n)
	}
	if boundView(nil) != nil {
		t.Error("boundView(nil) is not nil")
	}
}

func TestBoundViewLegalExtremesStayWhole(t *testing.T) {
	// The largest legal CreateKey: a 32 KB policy full of quotes, an
	// 8192-character description of 4-byte characters and 50 tags of
	// maximal 4-byte keys and values.
	tags := make([]any, 50)
	for i := range tags {
		tags[i] = map[string]any{"tagKey": strings.Repeat("𝄞", 128), "tagValue": strings.Repeat("𝄞", 256)}
	}
	v := map[string]any{
		"policy":      strings.Repeat(`{"a":"b"}`, 32768/9),
		"description": strings.Repeat("𝄞", 8192),
		"tags":        tags,
		"keySpec":     "SYMMETRIC_DEFAULT",
	}
	if got := boundView(v); got["omitted"] != nil {
		t.Fatalf("a legal request was cut: %d bytes encoded", encodedSize(t, v))
	}
}

func TestBoundViewCutsHugeValues(t *testing.T) {
	huge := strings.Repeat("x", 900<<10)
	ec := make(map[string]any, 5000)
	for i := range 5000 {
		ec[fmt.Sprintf("k%05d", i)] = "v"
	}
	v := map[string]any{
		"keyId":               huge,
		"encryptionContext":   ec,
		"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}
	got := boundView(v)
	if got["omitted"] != true {
		t.Error("a cut view is not marked omitted")
	}
	if got["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
		t.Errorf("a small member was lost: %v", got["encryptionAlgorithm"])
	}
	sum := sha256.Sum256([]byte(huge))
	keyID, _ := got["keyId"].(string)
	if !strings.HasPrefix(keyID, "xxxx") || !strings.Contains(keyID, fmt.Sprintf("%d bytes, sha256 %s", len(huge), hex.EncodeToString(sum[:]))) || len(keyID) > 512 {
		t.Errorf("keyId cut to %d bytes: %.120q", len(keyID), keyID)
	}
	m, _ := got["encryptionContext"].(map[string]any)
	if len(m) != maxViewEntries+1 || m["k00000"] != "v" || m[truncatedKey] != fmt.Sprintf("%d more entries", 5000-maxViewEntries) {
		t.Errorf("encryption context cut to %d entries, note %v", len(m), m[truncatedKey])
	}
	if n := encodedSize(t, got); n > viewBudget {
		t.Errorf("bounded view encodes to %d bytes", n)
	}
}

// TestBoundViewWorstCase checks the bound against values built to expand
// the most when encoded: every byte escaped, many members, nesting.
func TestBoundViewWorstCase(t *testing.T) {
	escapes := strings.Repeat("\x01\"<", 20<<10)
	list := make([]any, 3000)
	for i := range list {
		list[i] = map[string]any{escapes[:i%64+1]: escapes, "n": 1.5}
	}
	v := map[string]any{"a": escapes, "b": list, escapes: escapes, "c": map[string]any{"d": list}}
	got := boundView(v)
	if n := encodedSize(t, got); n > viewBudget+1024 {
		t.Errorf("bounded view encodes to %d bytes, over %d", n, viewBudget)
	}
	// Cut strings still end on a character boundary.
	cut := boundView(map[string]any{"s": strings.Repeat("é", 100<<10)})["s"].(string)
	if !strings.HasPrefix(cut, strings.Repeat("é", keptPrefix/2)+"...[truncated") {
		t.Errorf("cut string starts %.40q", cut)
	}
}

func TestBoundError(t *testing.T) {
	short := kmserr.New(kmserr.Validation, "short")
	if boundError(short) != error(short) {
		t.Error("a short message was changed")
	}
	long := kmserr.New(kmserr.Validation, "1 validation error detected: Value '%s' at 'keyId' failed", strings.Repeat("é", 600<<10))
	got := kmserr.As(boundError(long))
	if got.Code != kmserr.Validation || len(got.Message) > maxErrorMessage+64 || !strings.Contains(got.Message, "[truncated: ") {
		t.Errorf("cut message: code %s, %d bytes", got.Code, len(got.Message))
	}
	if !strings.HasPrefix(got.Message, "1 validation error detected: Value 'éé") {
		t.Errorf("cut message starts %.60q", got.Message)
	}
	if len(long.Message) < 600<<10 {
		t.Error("boundError changed the original error")
	}
	if plain := errors.New("x"); boundError(plain) != plain {
		t.Error("a non-kmserr error was changed")
	}
}

// BenchmarkBoundView measures what bounding adds to the hot path: an
// Encrypt's view, which fits and is returned as it is.
func BenchmarkBoundView(b *testing.B) {
	in := &kmsapi.EncryptInput{
		KeyId:             "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		EncryptionContext: map[string]string{"purpose": "test", "tenant": "acme-corp"},
	}
	params := in.RequestParameters()
	b.ReportAllocs()
	for b.Loop() {
		boundView(params)
	}
}

// FuzzDecodeBody feeds arbitrary bodies to every operation's input as the
// server decodes them. A body that decodes must be valid JSON with no
// duplicate names and valid UTF-8; one that does not is a
// SerializationException; and the audit view of whatever decoded stays
// within its bound.
func FuzzDecodeBody(f *testing.F) {
	f.Add("Encrypt", []byte(`{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`))
	f.Add("Encrypt", []byte(`{"KeyId":"k","keyid":"j","X":{"y":[1,null,true]}}`))
	f.Add("Encrypt", []byte(`{"KeyId":"a","KeyId":"b"}`))
	f.Add("Encrypt", []byte(`{"EncryptionContext":{"\ud83d\ude00":"\u00e9"}}`))
	f.Add("Encrypt", []byte(`{"EncryptionContext":{"k":"\ud800"}}`))
	f.Add("CreateKey", []byte(`{"Tags":[{"TagKey":"","TagValue":null},{}],"KeySpec":"X","Description":"d"}`))
	f.Add("CreateGrant", []byte(`{"Operations":["Nope"],"Constraints":{"EncryptionContextSubset":{"a":"b"}},"GrantTokens":[""]}`))
	f.Add("ImportKeyMaterial", []byte(`{"ValidTo":1.5565824E9}`))
	f.Add("ListKeys", []byte(`{"Limit":1e20}`))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		in := kmsapi.NewInput(op)
		if in == nil {
			return
		}
		if err := decodeBody(body, in); err != nil {
			if e := kmserr.As(err); e.Code != kmserr.Serialization {
				t.Fatalf("decode error %v is not a SerializationException", err)
			}
			return
		}
		if len(body) > 0 && !jsontext.Value(body).IsValid() {
			t.Fatalf("accepted %q, which is not valid JSON text", body)
		}
		_ = in.Validate()
		if v := boundView(in.RequestParameters()); v != nil {
			if n := encodedSize(t, v); n > viewBudget+1024 {
				t.Fatalf("audit view of %q encodes to %d bytes", body, n)
			}
		}
	})
}
