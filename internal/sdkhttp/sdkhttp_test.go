package sdkhttp

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sdkBody behaves as the AWS SDK's request body does: once closed (which
// the SDK does as soon as a response's headers arrive) reads return
// io.EOF, and its WriteTo returns io.EOF as an error. WriteTo waits for
// the close, so the race the package avoids happens every time.
type sdkBody struct {
	r      *bytes.Reader
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newSDKBody(b []byte) *sdkBody {
	return &sdkBody{r: bytes.NewReader(b), closed: make(chan struct{})}
}

func (b *sdkBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, io.EOF
	default:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.r.Read(p)
}

func (b *sdkBody) WriteTo(io.Writer) (int64, error) {
	<-b.closed
	return 0, io.EOF
}

func (b *sdkBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestLargeAnswerAfterTheSDKClosesTheBody: the server answers with more
// than the client's read buffer holds, in two parts; between them the
// caller closes the request body, as the SDK does. The whole answer
// arrives. Sent through http.Client directly, net/http reads the closed
// body once more after sending it and drops the connection mid-answer
// ("use of closed network connection").
func TestLargeAnswerAfterTheSDKClosesTheBody(t *testing.T) {
	answer := strings.Repeat("a", 12<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, err := io.ReadAll(r.Body); err != nil || string(b) != `{"KeyId":"k"}` {
			t.Errorf("request body %q, %v", b, err)
		}
		w.Header().Set("Content-Length", "12288")
		_, _ = io.WriteString(w, answer[:1024])
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond) // the caller closes its body meanwhile
		_, _ = io.WriteString(w, answer[1024:])
	}))
	defer srv.Close()

	c := Wrap(srv.Client())
	for i := range 3 { // on a fresh and on reused connections
		body := newSDKBody([]byte(`{"KeyId":"k"}`))
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 13
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = body.Close() // what the SDK does once the headers are in
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != answer {
			t.Fatalf("request %d: read %d of %d bytes: %v", i, len(got), len(answer), err)
		}
	}
}

func TestBodilessRequestsPassThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := Wrap(srv.Client()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "GET" {
		t.Fatalf("answer %q", b)
	}
}
