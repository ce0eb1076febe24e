package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// endless is a request body of n bytes made on the fly, so the client
// holds none of it in memory.
type endless struct{ left int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.left)
	for i := range p[:n] {
		p[i] = 'a'
	}
	e.left -= n
	return int(n), nil
}

// allocated returns the bytes allocated so far by the whole process.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestBarOversizedBodiesAreNotBuffered is the body part of check 35: a
// 64 MiB body, announced or streamed without a length, is refused without
// being read into memory (the whole process allocates far less than the
// body), and the server goes on serving.
func TestBarOversizedBodiesAreNotBuffered(t *testing.T) {
	s := newServer(t)
	const size = 64 << 20
	for _, announced := range []bool{true, false} {
		t.Run(fmt.Sprintf("Content-Length announced %v", announced), func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.URL+"/", &endless{left: size})
			if err != nil {
				t.Fatal(err)
			}
			if announced {
				req.ContentLength = size
			}
			req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			before := allocated()
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// The server may also answer and close before the client
				// has sent everything; then the client sees an error.
				wireError(t, rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, "ValidationException")
			}
			if grew := allocated() - before; grew > size/4 {
				t.Fatalf("a %d-byte body made the process allocate %d bytes", size, grew)
			}
			if r := s.post("TrentService.ListKeys", []byte(`{}`)); r.Status != http.StatusOK {
				t.Fatalf("ListKeys afterwards: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestBarHostileMembers is the member part of check 35 (JSON strictness is
// tested with the decoder): each request is refused with AWS's exception,
// before any work, and changes nothing.
func TestBarHostileMembers(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("target").KeyId)
	bigEC := map[string]string{}
	for i := range 10000 {
		bigEC[fmt.Sprintf("k%05d", i)] = "v"
	}
	ecJSON, _ := json.Marshal(bigEC)
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		name, target, body, code string
	}{
		{"10,000 context pairs", "Encrypt", `{"KeyId":"` + id + `","Plaintext":"` + b64(8) + `","EncryptionContext":` + string(ecJSON) + `}`, "ValidationException"},
		{"10,000 context pairs on Decrypt", "Decrypt", `{"CiphertextBlob":"` + b64(200) + `","EncryptionContext":` + string(ecJSON) + `}`, "ValidationException"},
		{"6145-byte CiphertextBlob", "Decrypt", `{"CiphertextBlob":"` + b64(6145) + `"}`, "ValidationException"},
		{"4097-byte Plaintext", "Encrypt", `{"KeyId":"` + id + `","Plaintext":"` + b64(4097) + `"}`, "ValidationException"},
		{"GenerateRandom of 0 bytes", "GenerateRandom", `{"NumberOfBytes":0}`, "ValidationException"},
		{"GenerateRandom of 1025 bytes", "GenerateRandom", `{"NumberOfBytes":1025}`, "ValidationException"},
		{"data key of 0 bytes", "GenerateDataKey", `{"KeyId":"` + id + `","NumberOfBytes":0}`, "ValidationException"},
		{"data key of 1025 bytes", "GenerateDataKey", `{"KeyId":"` + id + `","NumberOfBytes":1025}`, "ValidationException"},
		{"invalid base64", "Encrypt", `{"KeyId":"` + id + `","Plaintext":"****"}`, "SerializationException"},
		{"unknown target", "Exfiltrate", `{}`, "UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post("TrentService."+tc.target, []byte(tc.body))
			msg := wireError(t, r, tc.code)
			if len(msg) > 2048 {
				t.Errorf("a %d-byte message echoes the request", len(msg))
			}
		})
	}
	// A wrong Content-Type is refused before the operation runs.
	r := s.do("TrentService.CreateKey", "text/plain", []byte(`{}`))
	if r.Status < 400 || r.Status >= 500 {
		t.Fatalf("CreateKey as text/plain: status %d %s", r.Status, r.Body)
	}
	var eb struct {
		Type string `json:"__type"`
	}
	if err := json.Unmarshal(r.Body, &eb); err != nil || eb.Type == "" || strings.Contains(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("not an AWS JSON error: %s", r.Body)
	}
	keys, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil || len(keys.Keys) != 1 {
		t.Fatalf("refused requests created keys: %v %+v", err, keys)
	}
}
