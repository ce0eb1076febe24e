package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func get(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestBrowserAndWrongPathGetAReadablePage: a browser opening the endpoint,
// or anyone asking for a wrong path, reads what kmsd is and how to use it;
// requests shaped like an SDK's keep AWS's JSON errors.
func TestBrowserAndWrongPathGetAReadablePage(t *testing.T) {
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	cli := "aws --endpoint-url " + p.url + " kms list-keys"

	resp, body := get(t, http.MethodGet, p.url+"/", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<h1>kmsd</h1>") || !strings.Contains(body, "AWS Key Management Service (KMS) API") || !strings.Contains(body, cli) {
		t.Errorf("a browser at /: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	resp, body = get(t, http.MethodGet, p.url+"/keys", map[string]string{"Accept": "*/*"})
	if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(body, "kmsd has no page at /keys.") || !strings.Contains(body, cli) {
		t.Errorf("curl at /keys: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	resp, body = get(t, http.MethodGet, p.url+"/%3Cscript%3Ealert(1)%3C/script%3E", map[string]string{"Accept": "text/html"})
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("a path with markup is not escaped: %d\n%s", resp.StatusCode, body)
	}

	// SDK-shaped requests: AWS's JSON errors, as before.
	for _, h := range []map[string]string{
		{"X-Amz-Target": "TrentService.NoSuchOperation", "Content-Type": "application/x-amz-json-1.1"},
		{"Content-Type": "application/x-amz-json-1.1"},
	} {
		req, _ := http.NewRequest(http.MethodPost, p.url+"/", strings.NewReader("{}"))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || !strings.HasSuffix(e["__type"], "Exception") {
			t.Errorf("SDK-shaped POST with %v: %d %v; want an AWS JSON error", h, resp.StatusCode, e)
		}
	}
	if _, err := p.client(docKey, docSecret).ListKeys(context.Background(), &kms.ListKeysInput{}); err != nil {
		t.Errorf("the SDK: %v", err)
	}
	p.stop()
}
