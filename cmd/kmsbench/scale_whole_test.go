package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRequestsOfSumsEveryOperationAndOutcome(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP kmsd_requests_total API requests.
# TYPE kmsd_requests_total counter
kmsd_requests_total{operation="Encrypt",outcome="ok"} 1200
kmsd_requests_total{operation="Decrypt",outcome="InvalidCiphertextException"} 3
kmsd_requests_total_other 99
kmsd_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"} 1200
kmsd_keys{state="Enabled"} 5
`)
	}))
	defer srv.Close()
	n, err := requestsOf(srv.URL)
	if err != nil || n != 1203 {
		t.Fatalf("requestsOf = %v, %v; want 1203", n, err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `kmsd_requests_total{operation="Encrypt",outcome="ok"} many`)
	}))
	defer broken.Close()
	if _, err := requestsOf(broken.URL); err == nil {
		t.Fatal("a value that is not a number was read")
	}
}

func TestWholeRunPerRequest(t *testing.T) {
	from := wholeRun{cpu: time.Second, requests: 1000}
	if got := (wholeRun{cpu: 3 * time.Second, requests: 21000}).perRequest(from); got != 100*time.Microsecond {
		t.Errorf("2 s over 20,000 requests: %s", got)
	}
	if got := from.perRequest(from); got != 0 {
		t.Errorf("no request answered: %s", got)
	}
}
