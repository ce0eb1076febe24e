package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// flipBodyByte changes one base64 character of the Plaintext member, so the
// body stays a well-formed request of the same length.
func flipBodyByte(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	member := []byte(`"Plaintext":"`)
	if !bytes.Contains(body, member) {
		member = []byte(`"KeyId":"`)
	}
	j := bytes.Index(body, member) + len(member)
	if body[j] == 'A' {
		body[j] = 'B'
	} else {
		body[j] = 'A'
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// TestBarTamperedRequestOnTheWire is check 1 of the security bar through
// the SDK and a real listener: a signed request changed in one byte of its
// body, X-Amz-Target (Encrypt becomes Decrypt), Host or query string is
// refused with InvalidSignatureException (HTTP 400), the key is not
// touched, and each refusal is audited under the request ID the client saw.
func TestBarTamperedRequestOnTheWire(t *testing.T) {
	s := startBarServer(t, barOptions{allowAll: true})
	id := aws.ToString(s.createKey("tamper target").KeyId)

	tampers := []struct {
		name string
		edit func(*http.Request)
	}{
		{"body byte", flipBodyByte},
		{"X-Amz-Target", func(r *http.Request) {
			// Encrypt becomes Decrypt; ScheduleKeyDeletion becomes ...DeletioN.
			target := []byte(r.Header.Get("X-Amz-Target"))
			if i := bytes.Index(target, []byte(".Encrypt")); i >= 0 {
				target[i+1] = 'D'
			} else {
				target[len(target)-1] ^= 0x20
			}
			r.Header.Set("X-Amz-Target", string(target))
		}},
		{"Host", func(r *http.Request) {
			h := []byte(r.URL.Host)
			h[len("127.0.0.")] ^= 1 // 127.0.0.1 becomes 127.0.0.0; the connection still goes to the listener
			r.Host = string(h)
		}},
		{"query string", func(r *http.Request) { r.URL.RawQuery = "a" }},
	}
	var refused []string
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			c := s.barClient(rootA, tc.edit)
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("CANARY-tampered-plaintext")})
			wantCode(t, err, "InvalidSignatureException")
			if st := barStatus(err); st != http.StatusBadRequest {
				t.Errorf("HTTP status %d, want 400", st)
			}
			refused = append(refused, requestIDOfErr(t, err))
			// A tampered state change does not happen either.
			_, err = c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
			wantCode(t, err, "InvalidSignatureException")
			refused = append(refused, requestIDOfErr(t, err))
		})
	}
	// The same requests unchanged succeed: the refusals were the tampering's.
	if _, err := s.barClient(rootA, nil).Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("untampered Encrypt: %v", err)
	}
	after := s.describe(id)
	if after.KeyState != types.KeyStateEnabled || after.DeletionDate != nil {
		t.Fatalf("the key changed under tampered requests: %s, deletion %v", after.KeyState, after.DeletionDate)
	}

	records := s.readAudit()
	byID := map[string]map[string]any{}
	for _, r := range records {
		byID[r["requestID"].(string)] = r
	}
	for _, rid := range refused {
		rec, ok := byID[rid]
		if !ok {
			t.Errorf("refused request %s has no audit record", rid)
			continue
		}
		if rec["errorCode"] != "InvalidSignatureException" {
			t.Errorf("record of %s: errorCode %v, want InvalidSignatureException", rid, rec["errorCode"])
		}
		if res, _ := rec["resources"].([]any); len(res) != 0 {
			t.Errorf("record of refused request %s names resources %v: the key was looked up", rid, res)
		}
	}
	raw := fmt.Sprint(records)
	if strings.Contains(raw, "CANARY-tampered-plaintext") || strings.Contains(raw, base64.StdEncoding.EncodeToString([]byte("CANARY-tampered-plaintext"))) {
		t.Error("a refused request's plaintext reached the audit log")
	}
}

// skewedClient sends requests as signed by the SDK, after setting the
// server's signature clock to X-Amz-Date + skew, so the skew the server
// sees is exact whatever the machine's load.
func skewedClient(s *barServer, clock *fakeClock, skew time.Duration) *kms.Client {
	return s.barClient(rootA, func(r *http.Request) {
		signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			panic("no X-Amz-Date on a signed request: " + err.Error())
		}
		clock.mu.Lock()
		clock.t = signed.Add(skew)
		clock.mu.Unlock()
	})
}

// TestBarClockWindowOnTheWire is check 2 through the SDK: a request 4m59s
// old (or early) passes; 5m01s either way is InvalidSignatureException
// with AWS's "Signature expired" / "not yet current" message. The server's
// clock is injected, never slept on.
func TestBarClockWindowOnTheWire(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s := startBarServer(t, barOptions{allowAll: true, verifierClock: clock})
	const amz = "20060102T150405Z"
	for _, skew := range []time.Duration{4*time.Minute + 59*time.Second, -(4*time.Minute + 59*time.Second), 5 * time.Minute} {
		if _, err := skewedClient(s, clock, skew).ListKeys(bg, &kms.ListKeysInput{}); err != nil {
			t.Errorf("request %v from the server's clock: %v", skew, err)
		}
	}
	late := 5*time.Minute + time.Second
	_, err := skewedClient(s, clock, late).ListKeys(bg, &kms.ListKeysInput{})
	now := clock.Now()
	signed := now.Add(-late)
	wantError(t, err, "InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
		signed.Format(amz), now.Add(-5*time.Minute).Format(amz), now.Format(amz)))
	if st := barStatus(err); st != http.StatusBadRequest {
		t.Errorf("HTTP status %d, want 400", st)
	}
	_, err = skewedClient(s, clock, -late).ListKeys(bg, &kms.ListKeysInput{})
	now = clock.Now()
	wantError(t, err, "InvalidSignatureException", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
		now.Add(late).Format(amz), now.Add(5*time.Minute).Format(amz), now.Format(amz)))
}

// TestBarSecureTransport is check 6: over plain HTTP aws:SecureTransport is
// false, so a key policy denying on it refuses the request; an
// X-Forwarded-Proto: https header from the (untrusted) peer does not
// change that; over TLS the same request succeeds.
func TestBarSecureTransport(t *testing.T) {
	s := startBarServer(t, barOptions{})
	pol := `{"Version":"2012-10-17","Statement":[
 {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"` + rootA + `"},"Action":"kms:*","Resource":"*"},
 {"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
  "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	secure := s.overTLS(rootA)
	ck, err := secure.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(pol)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(ck.KeyMetadata.Arn)
	enc, err := secure.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("over TLS")})
	if err != nil {
		t.Fatalf("Encrypt over TLS: %v", err)
	}
	denied := "User: " + rootA + " is not authorized to perform: kms:Encrypt on resource: " + arn + " with an explicit deny in a resource-based policy"
	forwarded := func(r *http.Request) {
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("Forwarded", "proto=https")
		r.Header.Set("X-Forwarded-Ssl", "on")
	}
	for name, c := range map[string]*kms.Client{"plain HTTP": s.as(rootA), "plain HTTP claiming https": s.barClient(rootA, forwarded)} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("in the clear")})
			wantError(t, err, "AccessDeniedException", denied)
			_, err = c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			wantCode(t, err, "AccessDeniedException")
			// Actions the Deny does not name still work over plain HTTP.
			if _, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(arn)}); err != nil {
				t.Fatalf("DescribeKey over plain HTTP: %v", err)
			}
		})
	}
	if dec, err := secure.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "over TLS" {
		t.Fatalf("Decrypt over TLS: %v", err)
	}
}
