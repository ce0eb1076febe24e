package xks

import (
	"crypto/sha256"
	"testing"

	json "github.com/go-json-experiment/json"
)

// FuzzAnswer feeds arbitrary bytes to every answer parser: none may panic,
// an accepted answer must meet the spec's sizes, and an error's log text
// must stay printable ASCII under 512 characters.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(`{"ciphertext":"cHQ=","initializationVector":"AAAAAAAAAAAAAAAA","authenticationTag":"AAAAAAAAAAAAAAAAAAAAAA=="}`), 200)
	f.Add([]byte(`{"errorName":"ValidationException","errorMessage":"bad\u0000"}`), 400)
	f.Add([]byte(`{"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"}`), 200)
	f.Add([]byte(health(`2`, `[{"id":"a","model":"m","healthStatus":"DEGRADED"}]`)), 200)
	f.Add([]byte(`{"plaintext":"cHQ="}`), 200)
	f.Add([]byte(`{"errorName":"X"}`), 503)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		if e := errorAnswer(OpDecrypt, status, data); e.Kind == KindProxy {
			if _, ok := specStatus[e.Name]; !ok || len(e.Message) > 511 || sanitize(e.Message) != e.Message {
				t.Fatalf("accepted %+v", e)
			}
		} else if e.Kind != KindMalformed {
			t.Fatalf("kind %v", e.Kind)
		}
		var ew encryptWire
		if json.Unmarshal(data, &ew) == nil {
			aad := []byte("aad")
			if ct, err := ew.check(2, aad); err == nil {
				if len(ct.Ciphertext) != 2 || (len(ct.IV) != 12 && len(ct.IV) != 16) || len(ct.AuthenticationTag) != 16 || len(ct.CiphertextMetadata) > 20 {
					t.Fatalf("accepted %+v", ct)
				}
			}
			// The same fields with a correct CDIV must pass exactly when the sizes do.
			if ew.Ciphertext != nil && ew.IV != nil && ew.AuthenticationTag != nil {
				h := sha256.New()
				for _, p := range [][]byte{aad, ew.CiphertextMetadata, ew.IV, ew.Ciphertext, ew.AuthenticationTag} {
					h.Write(p)
				}
				ew.CDIV = h.Sum(nil)
				_, err := ew.check(len(ew.Ciphertext), aad)
				sizesOK := (len(ew.IV) == 12 || len(ew.IV) == 16) && len(ew.AuthenticationTag) == 16 && len(ew.CiphertextMetadata) <= 20
				if (err == nil) != sizesOK {
					t.Fatalf("check = %v for sizes ok %v", err, sizesOK)
				}
			}
		}
		var mw metadataWire
		if json.Unmarshal(data, &mw) == nil {
			if md, err := mw.check(); err == nil && (len(md.KeyUsage) > 10 || (md.KeyStatus != "ENABLED" && md.KeyStatus != "DISABLED")) {
				t.Fatalf("accepted %+v", md)
			}
		}
		var hw healthWire
		if json.Unmarshal(data, &hw) == nil {
			if h, err := hw.check(); err == nil && (h.XksProxyFleetSize < 1 || len(h.EkmFleetDetails) < 1 || len(h.EkmFleetDetails) > 10) {
				t.Fatalf("accepted %+v", h)
			}
		}
	})
}
