package xks

import (
	"context"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

const (
	okIV   = `"AAAAAAAAAAAAAAAA"`         // 12 bytes
	okTag  = `"AAAAAAAAAAAAAAAAAAAAAA=="` // 16 bytes
	okCT2  = `"cHQ="`                     // 2 bytes, the length of "pt"
	okMeta = `"a2V5X3ZlcnNpb249MQ=="`     // 13 bytes
)

// TestMalformedAnswers: every answer outside the spec is a malformed
// response, which KMS reports as XksProxyInvalidResponseException (key
// store management), KMSInvalidStateException (cryptographic operations)
// and XKS_PROXY_INVALID_RESPONSE (connect), and never leaks the plaintext.
func TestMalformedAnswers(t *testing.T) {
	encrypt := func(ct, iv, tag, extra string) string {
		return `{"ciphertext":` + ct + `,"initializationVector":` + iv + `,"authenticationTag":` + tag + extra + `}`
	}
	cases := []struct {
		name, op string
		status   int
		body     string
	}{
		{"not JSON", OpEncrypt, 200, `<html>ok</html>`},
		{"empty body", OpEncrypt, 200, ``},
		{"JSON array", OpEncrypt, 200, `[]`},
		{"no ciphertext", OpEncrypt, 200, `{"initializationVector":` + okIV + `,"authenticationTag":` + okTag + `}`},
		{"null ciphertext", OpEncrypt, 200, encrypt(`null`, okIV, okTag, "")},
		{"ciphertext longer than plaintext", OpEncrypt, 200, encrypt(`"cHR4"`, okIV, okTag, "")},
		{"iv 13 bytes", OpEncrypt, 200, encrypt(okCT2, `"AAAAAAAAAAAAAAAAAA=="`, okTag, "")},
		{"iv missing", OpEncrypt, 200, `{"ciphertext":` + okCT2 + `,"authenticationTag":` + okTag + `}`},
		{"tag 15 bytes", OpEncrypt, 200, encrypt(okCT2, okIV, `"AAAAAAAAAAAAAAAAAAAA"`, "")},
		{"tag missing", OpEncrypt, 200, `{"ciphertext":` + okCT2 + `,"initializationVector":` + okIV + `}`},
		{"metadata 21 bytes", OpEncrypt, 200, encrypt(okCT2, okIV, okTag, `,"ciphertextMetadata":"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"`)},
		{"cdiv missing", OpEncrypt, 200, encrypt(okCT2, okIV, okTag, `,"ciphertextMetadata":`+okMeta)},
		{"cdiv wrong", OpEncrypt, 200, encrypt(okCT2, okIV, okTag, `,"ciphertextDataIntegrityValue":"qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="`)},
		{"url-safe base64", OpEncrypt, 200, encrypt(`"-_8="`, okIV, okTag, "")},
		{"unpadded base64", OpEncrypt, 200, encrypt(`"cHQ"`, okIV, okTag, "")},
		{"newline in base64", OpEncrypt, 200, encrypt(`"cH\nQ="`, okIV, okTag, "")},
		{"number for bytes", OpEncrypt, 200, encrypt(`12`, okIV, okTag, "")},
		{"duplicate member", OpEncrypt, 200, encrypt(okCT2, okIV, okTag, `,"ciphertext":`+okCT2)},
		{"HTML error page", OpEncrypt, 502, `<html>Bad Gateway</html>`},
		{"error without errorName", OpEncrypt, 400, `{"message":"nope"}`},
		{"unknown errorName", OpEncrypt, 400, `{"errorName":"TeapotException"}`},
		{"errorName not a string", OpEncrypt, 400, `{"errorName":7}`},
		{"status 204", OpEncrypt, 204, ``},
		{"status 302", OpEncrypt, 302, `{}`},
		{"plaintext missing", OpDecrypt, 200, `{}`},
		{"plaintext wrong length", OpDecrypt, 200, `{"plaintext":"cHR4"}`},
		{"plaintext bad base64", OpDecrypt, 200, `{"plaintext":"c*Q="}`},
		{"keySpec missing", OpGetKeyMetadata, 200, `{"keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"}`},
		{"keyStatus unknown", OpGetKeyMetadata, 200, `{"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ACTIVE"}`},
		{"keyUsage not array", OpGetKeyMetadata, 200, `{"keySpec":"AES_256","keyUsage":"ENCRYPT","keyStatus":"ENABLED"}`},
		{"keyUsage 11 values", OpGetKeyMetadata, 200, `{"keySpec":"AES_256","keyUsage":["A","B","C","D","E","F","G","H","I","J","K"],"keyStatus":"ENABLED"}`},
		{"keyUsage null value", OpGetKeyMetadata, 200, `{"keySpec":"AES_256","keyUsage":["ENCRYPT",null],"keyStatus":"ENABLED"}`},
		{"keySpec control chars", OpGetKeyMetadata, 200, `{"keySpec":"AES\n256","keyUsage":["ENCRYPT","DECRYPT"],"keyStatus":"ENABLED"}`},
		{"keyStatus case", OpGetKeyMetadata, 200, `{"keySpec":"AES_256","keyUsage":["ENCRYPT","DECRYPT"],"KeyStatus":"ENABLED"}`},
		{"fleet size 0", OpGetHealthStatus, 200, health(`0`, `[{"id":"a","model":"m","healthStatus":"ACTIVE"}]`)},
		{"fleet size fraction", OpGetHealthStatus, 200, health(`1.5`, `[{"id":"a","model":"m","healthStatus":"ACTIVE"}]`)},
		{"no ekm", OpGetHealthStatus, 200, health(`1`, `[]`)},
		{"11 ekms", OpGetHealthStatus, 200, health(`1`, "["+strings.Repeat(`{"id":"a","model":"m","healthStatus":"ACTIVE"},`, 10)+`{"id":"a","model":"m","healthStatus":"ACTIVE"}]`)},
		{"ekm status unknown", OpGetHealthStatus, 200, health(`1`, `[{"id":"a","model":"m","healthStatus":"OK"}]`)},
		{"ekm without id", OpGetHealthStatus, 200, health(`1`, `[{"model":"m","healthStatus":"ACTIVE"}]`)},
		{"no vendor", OpGetHealthStatus, 200, `{"xksProxyFleetSize":1,"xksProxyModel":"m","ekmVendor":"v","ekmFleetDetails":[{"id":"a","model":"m","healthStatus":"ACTIVE"}]}`},
		{"oversized", OpGetHealthStatus, 200, `{"xksProxyVendor":"` + strings.Repeat("v", maxResponse) + `"}`},
	}
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	ctx := context.Background()
	validCT := &Ciphertext{Ciphertext: []byte("xx"), IV: make([]byte, 12), AuthenticationTag: make([]byte, 16)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.SetAnswer(func(op string) (int, string, bool) {
				if op != tc.op {
					t.Errorf("proxy got %s, want %s", op, tc.op)
				}
				return tc.status, tc.body, true
			})
			var err error
			switch tc.op {
			case OpEncrypt:
				_, err = c.Encrypt(ctx, "key-1", cryptoMD, []byte("pt"), []byte("aad"))
			case OpDecrypt:
				_, err = c.Decrypt(ctx, "key-1", cryptoMD, validCT, nil)
			case OpGetKeyMetadata:
				_, err = c.Metadata(ctx, "key-1", cryptoMD)
			case OpGetHealthStatus:
				_, err = c.Health(ctx, cryptoMD)
			}
			e := asError(t, err)
			if e.Kind != KindMalformed || e.Transport || e.Op != tc.op || e.Status != tc.status {
				t.Fatalf("got %+v", e)
			}
			if n, msg := e.KMSException("UpdateCustomKeyStore"); n != "XksProxyInvalidResponseException" || msg != msgCannotInterpret {
				t.Errorf("UpdateCustomKeyStore: %s %q", n, msg)
			}
			if n, _ := e.KMSException(tc.op); n != "KMSInvalidStateException" && tc.op != OpGetHealthStatus {
				t.Errorf("%s: %s", tc.op, n)
			}
			if n, _ := e.KMSException("CreateKey"); n != "CustomKeyStoreInvalidStateException" {
				t.Errorf("CreateKey: %s", n)
			}
			if e.ConnectionErrorCode() != "XKS_PROXY_INVALID_RESPONSE" {
				t.Errorf("ConnectionErrorCode = %s", e.ConnectionErrorCode())
			}
			if s := err.Error(); strings.Contains(s, "cHR4") || strings.Contains(s, "cHQ") || len(s) > 300 {
				t.Errorf("error text echoes the answer: %q", s)
			}
		})
	}
	f.SetAnswer(nil)
}

func health(size, ekms string) string {
	return `{"xksProxyFleetSize":` + size + `,"xksProxyVendor":"v","xksProxyModel":"m","ekmVendor":"e","ekmFleetDetails":` + ekms + `}`
}

// TestSpecEncryptExample checks the CDIV of the Encrypt response example in
// the spec (Appendix C), so the client's integrity check agrees with AWS's
// computation and not only with our own fake proxy.
func TestSpecEncryptExample(t *testing.T) {
	f := xkstest.New(t)
	c := newClient(t, proxyConfig(f))
	example := `{
    "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
    "ciphertext": "ghxkK1txeDNn3q8Y",
    "ciphertextDataIntegrityValue": "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
    "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
    "initializationVector": "HMrlRw85cAJUd5Ax"
}`
	f.SetAnswer(func(string) (int, string, bool) { return 200, example, true })
	ct, err := c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("Hello World!"), []byte("project=nile,department=marketing"))
	if err != nil {
		t.Fatalf("spec example refused: %v", err)
	}
	if string(ct.CiphertextMetadata) != "key_version=1" || len(ct.IV) != 12 || len(ct.Ciphertext) != 12 {
		t.Fatalf("got %+v", ct)
	}
	// The same answer for another AAD fails the integrity check.
	_, err = c.Encrypt(context.Background(), "key-1", cryptoMD, []byte("Hello World!"), []byte("project=nile,department=sales"))
	if e := asError(t, err); e.Kind != KindMalformed || !strings.Contains(e.Message, "ciphertextDataIntegrityValue") {
		t.Fatalf("got %+v", e)
	}
}
