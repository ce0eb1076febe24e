package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// encodedSize is the size of v as the audit log writes it.
func encodedSize(t *testing.T, v map[string]any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestBoundError(t *testing.T) {
	short := kmserr.New(kmserr.Validation, "short")
	if boundError(short) != error(short) {
		t.Error("a short message was changed")
	}
	long := kmserr.New(kmserr.Validation, "1 validation error detected: Value '%s' at 'keyId' failed", strings.Repeat("é", 600<<10))
	got := kmserr.As(boundError(long))
	if got.Code != kmserr.Validation || len(got.Message) > audit.MaxErrorMessage+64 || !strings.Contains(got.Message, "[truncated: ") {
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
		if v := audit.BoundView(in.RequestParameters()); v != nil {
			if n := encodedSize(t, v); n > audit.ViewBudget+1024 {
				t.Fatalf("audit view of %q encodes to %d bytes", body, n)
			}
		}
	})
}
