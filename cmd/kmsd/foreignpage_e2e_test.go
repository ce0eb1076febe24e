package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDevRefusesForeignPages sends plain `kmsd dev` the unsigned,
// form-encoded IAM call a web page of any site can make a browser send
// without a CORS preflight. Before, it created the user as the account
// root: any page a developer opened could act on the local kmsd. Now a
// request whose Origin is another site, or a DNS name rebound to kmsd's
// address, is refused and changes nothing; kmsd's own console (same origin
// at an IP address or localhost) and programs (no Origin) still work. A
// reset from such a page is refused too: before, it wiped every key.
func TestDevRefusesForeignPages(t *testing.T) {
	p := startKMSD(t, "dev", "--data", t.TempDir())
	host := strings.TrimPrefix(p.url, "http://")
	_, port, _ := strings.Cut(host, ":")
	createUser := func(name, origin, hostHeader string) (int, string) {
		t.Helper()
		form := url.Values{"Action": {"CreateUser"}, "Version": {"2010-05-08"}, "UserName": {name}}
		req, err := http.NewRequest(http.MethodPost, p.url+"/", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if hostHeader != "" {
			req.Host = hostHeader
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct{ name, user, origin, host string }{
		{"another site", "from-evil", "http://evil.example", ""},
		{"a rebound DNS name", "from-rebound", "http://rebound.example:" + port, "rebound.example:" + port},
		{"another port of this machine", "from-other-port", "http://127.0.0.1:1", ""},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			code, body := createUser(tc.user, tc.origin, tc.host)
			if code != http.StatusForbidden || !strings.Contains(body, "MissingAuthenticationToken") {
				t.Fatalf("status %d, body %s; want 403 MissingAuthenticationToken", code, body)
			}
		})
	}
	for _, tc := range []struct{ name, user, origin string }{
		{"a program", "from-program", ""},
		{"its own console", "from-console", p.url},
	} {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			if code, body := createUser(tc.user, tc.origin, ""); code != http.StatusOK {
				t.Fatalf("status %d, body %s", code, body)
			}
		})
	}
	// A reset is a plain POST too: a page of another site must not wipe
	// the server (any caller on this machine may, and a browser is one).
	for _, path := range []string{"/kmsd/reset", "/moto-api/reset", "/_localstack/state/reset"} {
		req, err := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s from another site: status %d, want 403", path, resp.StatusCode)
		}
	}
	out := p.rootCLI(t, "iam", "list-users", "--query", "Users[].UserName", "--output", "text")
	if strings.Contains(out, "from-evil") || strings.Contains(out, "from-rebound") || strings.Contains(out, "from-other-port") {
		t.Errorf("a refused request created a user: %s", out)
	}
	if !strings.Contains(out, "from-program") || !strings.Contains(out, "from-console") {
		t.Errorf("users made by a program and the console are missing: %s", out)
	}
}
