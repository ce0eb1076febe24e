package xksproxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
)

var enc64 = base64.StdEncoding.EncodeToString

func TestMetadataEncryptDecryptRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	id := h.createKey(nil)
	if _, err := h.svc.CreateAlias(context.Background(), h.caller(), &kmsapi.CreateAliasInput{AliasName: "alias/ebs-xks", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	pt, aad := enc64([]byte("Hello World!")), enc64([]byte("project=nile,department=marketing"))
	for _, ref := range []string{id, "ebs-xks"} {
		md := h.post("/keys/"+ref+"/metadata", map[string]any{"requestMetadata": metadata("CreateKey")}, signed{})
		if md.status != http.StatusOK || md.str("keySpec") != "AES_256" || md.str("keyStatus") != "ENABLED" ||
			strings.Join(toStrings(md.body["keyUsage"]), ",") != "ENCRYPT,DECRYPT" {
			t.Fatalf("%s metadata: %d %s", ref, md.status, md.raw)
		}
		enc := h.post("/keys/"+ref+"/encrypt", encryptBody(pt, aad), signed{})
		if enc.status != http.StatusOK {
			t.Fatalf("%s encrypt: %d %s", ref, enc.status, enc.raw)
		}
		ct, _ := base64.StdEncoding.DecodeString(enc.str("ciphertext"))
		iv, _ := base64.StdEncoding.DecodeString(enc.str("initializationVector"))
		tag, _ := base64.StdEncoding.DecodeString(enc.str("authenticationTag"))
		meta, _ := base64.StdEncoding.DecodeString(enc.str("ciphertextMetadata"))
		if len(ct) != len("Hello World!") || len(iv) != 12 || len(tag) != 16 || len(meta) == 0 || len(meta) > 20 {
			t.Fatalf("%s encrypt shape: %s", ref, enc.raw)
		}
		dec := h.post("/keys/"+ref+"/decrypt", decryptBody(enc, aad), signed{})
		if dec.status != http.StatusOK || dec.str("plaintext") != pt {
			t.Fatalf("%s decrypt: %d %s", ref, dec.status, dec.raw)
		}
		// The AAD is bound: another, or none, does not decrypt.
		wantError(t, ref+" decrypt with other AAD", h.post("/keys/"+ref+"/decrypt", decryptBody(enc, enc64([]byte("x"))), signed{}), 400, "InvalidCiphertextException")
		wantError(t, ref+" decrypt without AAD", h.post("/keys/"+ref+"/decrypt", decryptBody(enc, ""), signed{}), 400, "InvalidCiphertextException")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// TestCDIVMatchesSpecExample pins the integrity value to Appendix C's
// worked example.
func TestCDIVMatchesSpecExample(t *testing.T) {
	d := func(s string) []byte { b, _ := base64.StdEncoding.DecodeString(s); return b }
	got := base64.StdEncoding.EncodeToString(cdiv([]byte("project=nile,department=marketing"), []byte("key_version=1"),
		d("HMrlRw85cAJUd5Ax"), d("ghxkK1txeDNn3q8Y"), d("vBxN2ncH1oEkR8WVXpmyYQ==")))
	if want := "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="; got != want {
		t.Fatalf("CDIV %s, want %s", got, want)
	}
}

func TestEncryptReturnsCDIVWhenAsked(t *testing.T) {
	h := newHarness(t, nil)
	id := h.createKey(nil)
	body := encryptBody(enc64([]byte("data key")), enc64([]byte("header")))
	body["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
	enc := h.post("/keys/"+id+"/encrypt", body, signed{})
	d := func(name string) []byte { b, _ := base64.StdEncoding.DecodeString(enc.str(name)); return b }
	want := enc64(cdiv([]byte("header"), d("ciphertextMetadata"), d("initializationVector"), d("ciphertext"), d("authenticationTag")))
	if enc.status != http.StatusOK || enc.str("ciphertextDataIntegrityValue") != want {
		t.Fatalf("encrypt with CDIV: %d %s (want CDIV %s)", enc.status, enc.raw, want)
	}
	plain := h.post("/keys/"+id+"/encrypt", encryptBody(enc64([]byte("x")), ""), signed{})
	if _, ok := plain.body["ciphertextDataIntegrityValue"]; ok || plain.status != 200 {
		t.Fatalf("CDIV returned unasked: %s", plain.raw)
	}
}

func TestRotatedKeyDecryptsOlderCiphertext(t *testing.T) {
	h := newHarness(t, nil)
	id := h.createKey(nil)
	pt := enc64([]byte("before rotation"))
	old := h.post("/keys/"+id+"/encrypt", encryptBody(pt, ""), signed{})
	if _, err := h.svc.RotateKeyOnDemand(context.Background(), h.caller(), &kmsapi.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	fresh := h.post("/keys/"+id+"/encrypt", encryptBody(pt, ""), signed{})
	if fresh.status != 200 || fresh.str("ciphertextMetadata")[:12] == old.str("ciphertextMetadata")[:12] {
		t.Fatalf("after rotation the new material was not used: %s vs %s", old.raw, fresh.raw)
	}
	for name, enc := range map[string]response{"old": old, "new": fresh} {
		if dec := h.post("/keys/"+id+"/decrypt", decryptBody(enc, ""), signed{}); dec.status != 200 || dec.str("plaintext") != pt {
			t.Errorf("%s ciphertext: %d %s", name, dec.status, dec.raw)
		}
	}
}

func TestKeyErrors(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	good := h.createKey(nil)
	enc := h.post("/keys/"+good+"/encrypt", encryptBody(enc64([]byte("x")), ""), signed{})
	disabled := h.createKey(nil)
	if _, err := h.svc.DisableKey(ctx, h.caller(), &kmsapi.DisableKeyInput{KeyId: disabled}); err != nil {
		t.Fatal(err)
	}
	pending := h.createKey(nil)
	if _, err := h.svc.ScheduleKeyDeletion(ctx, h.caller(), &kmsapi.ScheduleKeyDeletionInput{KeyId: pending}); err != nil {
		t.Fatal(err)
	}
	asym := h.createKey(&kmsapi.CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "ENCRYPT_DECRYPT"})
	hmac := h.createKey(&kmsapi.CreateKeyInput{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"})
	missing := "00000000-0000-4000-8000-000000000000"

	tampered := decryptBody(enc, "")
	tag, _ := base64.StdEncoding.DecodeString(enc.str("authenticationTag"))
	tag[0] ^= 1
	tampered["authenticationTag"] = enc64(tag)
	shortIV := decryptBody(enc, "")
	shortIV["initializationVector"] = enc64([]byte("short"))
	noMeta := map[string]any{"requestMetadata": map[string]any{"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice", "kmsOperation": "Encrypt"}, "plaintext": "eA==", "encryptionAlgorithm": "AES_GCM"}
	badAlg := encryptBody("eA==", "")
	badAlg["encryptionAlgorithm"] = "AES_CBC"
	badB64 := encryptBody("not base64!", "")
	big := encryptBody(enc64(make([]byte, maxData+1)), "")

	for _, tc := range []struct {
		what, path string
		body       any
		status     int
		name       string
	}{
		{"encrypt disabled", "/keys/" + disabled + "/encrypt", encryptBody("eA==", ""), 400, "InvalidStateException"},
		{"decrypt disabled", "/keys/" + disabled + "/decrypt", decryptBody(enc, ""), 400, "InvalidStateException"},
		{"encrypt pending deletion", "/keys/" + pending + "/encrypt", encryptBody("eA==", ""), 400, "InvalidStateException"},
		{"encrypt missing key", "/keys/" + missing + "/encrypt", encryptBody("eA==", ""), 404, "KeyNotFoundException"},
		{"metadata missing key", "/keys/" + missing + "/metadata", map[string]any{"requestMetadata": metadata("CreateKey")}, 404, "KeyNotFoundException"},
		{"metadata missing alias", "/keys/no-such-alias/metadata", map[string]any{"requestMetadata": metadata("CreateKey")}, 404, "KeyNotFoundException"},
		{"encrypt RSA key", "/keys/" + asym + "/encrypt", encryptBody("eA==", ""), 400, "InvalidKeyUsageException"},
		{"metadata RSA key", "/keys/" + asym + "/metadata", map[string]any{"requestMetadata": metadata("CreateKey")}, 404, "KeyNotFoundException"},
		{"decrypt HMAC key", "/keys/" + hmac + "/decrypt", decryptBody(enc, ""), 400, "InvalidKeyUsageException"},
		{"bad key id", "/keys/bad%21id/encrypt", encryptBody("eA==", ""), 400, "ValidationException"},
		{"key id too long", "/keys/" + strings.Repeat("a", 129) + "/encrypt", encryptBody("eA==", ""), 400, "ValidationException"},
		{"unknown operation", "/keys/" + good + "/sign", encryptBody("eA==", ""), 404, "InvalidUriPathException"},
		{"unknown path", "/keys", encryptBody("eA==", ""), 404, "InvalidUriPathException"},
		{"tampered tag", "/keys/" + good + "/decrypt", tampered, 400, "InvalidCiphertextException"},
		{"wrong key", "/keys/" + h.createKey(nil) + "/decrypt", decryptBody(enc, ""), 400, "InvalidCiphertextException"},
		{"short IV", "/keys/" + good + "/decrypt", shortIV, 400, "ValidationException"},
		{"missing kmsRequestId", "/keys/" + good + "/encrypt", noMeta, 400, "ValidationException"},
		{"no requestMetadata", "/keys/" + good + "/encrypt", map[string]any{"plaintext": "eA=="}, 400, "ValidationException"},
		{"algorithm", "/keys/" + good + "/encrypt", badAlg, 400, "ValidationException"},
		{"bad Base64", "/keys/" + good + "/encrypt", badB64, 400, "ValidationException"},
		{"plaintext too large", "/keys/" + good + "/encrypt", big, 501, "UnsupportedOperationException"},
	} {
		wantError(t, tc.what, h.post(tc.path, tc.body, signed{}), tc.status, tc.name)
	}
	md := h.post("/keys/"+disabled+"/metadata", map[string]any{"requestMetadata": metadata("DescribeKey")}, signed{})
	if md.status != 200 || md.str("keyStatus") != "DISABLED" {
		t.Errorf("metadata of a disabled key: %d %s", md.status, md.raw)
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t, nil)
	id := h.createKey(nil)
	body := encryptBody(enc64([]byte("x")), "")
	for _, tc := range []struct {
		what string
		s    signed
	}{
		{"wrong secret", signed{akid: testAKID, secret: testSecret2}},
		{"unknown access key", signed{akid: "ZZZZXKSPROXYTESTKEY2345", secret: testSecret}},
		{"six minutes old", signed{at: time.Now().Add(-6 * time.Minute)}},
		{"six minutes ahead", signed{at: time.Now().Add(6 * time.Minute)}},
		{"service kms", signed{service: "kms"}},
	} {
		wantError(t, tc.what, h.post("/keys/"+id+"/encrypt", body, tc.s), 401, "AuthenticationFailedException")
	}
	// Unsigned: no Authorization at all.
	resp, err := http.Post(h.base+"/health", "application/json", strings.NewReader(`{"requestMetadata":{"kmsRequestId":"1","kmsOperation":"KmsHealthCheck"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned health: %d", resp.StatusCode)
	}
	// Within the window, and with the second credential of a rotation.
	for _, s := range []signed{{at: time.Now().Add(-4 * time.Minute)}, {akid: testAKID2, secret: testSecret2}} {
		if r := h.post("/keys/"+id+"/encrypt", body, s); r.status != 200 {
			t.Errorf("signed %+v: %d %s", s, r.status, r.raw)
		}
	}
	if r := h.post("/health", nil, signed{method: http.MethodGet}); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d %s", r.status, r.raw)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t, nil)
	r := h.post("/health", map[string]any{"requestMetadata": map[string]any{"kmsRequestId": "1124f4d6", "kmsOperation": "KmsHealthCheck"}}, signed{})
	var body struct {
		FleetSize int    `json:"xksProxyFleetSize"`
		Vendor    string `json:"xksProxyVendor"`
		Model     string `json:"xksProxyModel"`
		EKMVendor string `json:"ekmVendor"`
		Fleet     []struct {
			ID, Model, HealthStatus string
		} `json:"ekmFleetDetails"`
	}
	if err := json.Unmarshal([]byte(r.raw), &body); err != nil || r.status != 200 {
		t.Fatalf("health: %d %s", r.status, r.raw)
	}
	if body.FleetSize < 1 || body.Vendor == "" || body.Model == "" || body.EKMVendor == "" || len(body.Fleet) != 1 || body.Fleet[0].HealthStatus != "ACTIVE" {
		t.Fatalf("health: %s", r.raw)
	}
}

// corrupting flips a ciphertext bit of every encryption, as a fault
// between the key manager and the answer would.
type corrupting struct{ Backend }

func (c corrupting) XKSEncrypt(ctx context.Context, call *kms.Call, id string, pt, aad []byte) (*kms.XKSCiphertext, error) {
	out, err := c.Backend.XKSEncrypt(ctx, call, id, pt, aad)
	if err == nil {
		out.Ciphertext[0] ^= 1
	}
	return out, err
}

// TestCDIVCatchesACorruptEncryption: with a CDIV asked for, an encryption
// that would not decrypt is never answered (Appendix C); without one, the
// proxy has no reason to check.
func TestCDIVCatchesACorruptEncryption(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Backend = corrupting{c.Backend} })
	id := h.createKey(nil)
	body := encryptBody(enc64([]byte("data key")), "")
	body["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
	r := h.post("/keys/"+id+"/encrypt", body, signed{})
	wantError(t, "corrupt encryption", r, 500, "InternalException")
	if r.str("ciphertext") != "" {
		t.Fatalf("a corrupt ciphertext was returned: %s", r.raw)
	}
}
