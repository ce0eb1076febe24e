package console

import (
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestServesIndexAndAssetsWithTheirTypes(t *testing.T) {
	h := New()
	cases := []struct{ path, contentType, contains string }{
		{"/console/", "text/html; charset=utf-8", `<script type="module" src="js/app.js"></script>`},
		{"/console/index.html", "text/html; charset=utf-8", "<title>kmsd console</title>"},
		{"/console/js/app.js", "text/javascript; charset=utf-8", "import "},
		{"/console/js/sigv4.js", "text/javascript; charset=utf-8", "crypto.subtle"},
		{"/console/css/console.css", "text/css; charset=utf-8", ":root"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, c := range cases {
		w := get(t, h, http.MethodGet, c.path, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", c.path, w.Code)
		}
		if got := w.Header().Get("Content-Type"); got != c.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.contentType)
		}
		if !strings.Contains(w.Body.String(), c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("ETag") == "" {
			t.Errorf("GET %s: Cache-Control %q ETag %q, want no-cache with an ETag", c.path, w.Header().Get("Cache-Control"), w.Header().Get("ETag"))
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", c.path)
		}
	}
}

func TestEveryAnswerCarriesTheStrictCSP(t *testing.T) {
	h := New()
	for _, target := range []string{"/console/", "/console/js/keys.js", "/console/nope.js", "/console", "/console/../etc/passwd"} {
		w := get(t, h, http.MethodGet, target, nil)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", target, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP allows inline or eval: %q", target, csp)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: framing allowed", target)
		}
	}
}

func TestNotFoundRedirectAndMethods(t *testing.T) {
	h := New()
	for _, target := range []string{"/console/nope.js", "/console/js/", "/console/js", "/console/assets/index.html", "/consolex", "/console/js/../../console.go", "/console/.hidden"} {
		w := get(t, h, http.MethodGet, target, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, w.Code)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: a 404 may be cached: %q", target, w.Header().Get("Cache-Control"))
		}
	}
	if w := get(t, h, http.MethodGet, "/console", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/console/" {
		t.Errorf("GET /console: %d to %q, want a redirect to /console/", w.Code, w.Header().Get("Location"))
	}
	w := get(t, h, http.MethodPost, "/console/", nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /console/: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	w = get(t, h, http.MethodHead, "/console/js/app.js", nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: %d body %d length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

func TestRevalidationByETag(t *testing.T) {
	h := New()
	etag := get(t, h, http.MethodGet, "/console/js/app.js", nil).Header().Get("ETag")
	w := get(t, h, http.MethodGet, "/console/js/app.js", map[string]string{"If-None-Match": etag})
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("matching If-None-Match: %d with %d bytes, want 304", w.Code, w.Body.Len())
	}
	if other := get(t, h, http.MethodGet, "/console/js/ui.js", nil).Header().Get("ETag"); other == etag {
		t.Fatal("two files share an ETag")
	}
	if w := get(t, h, http.MethodGet, "/console/js/app.js", map[string]string{"If-None-Match": `"stale"`}); w.Code != http.StatusOK {
		t.Fatalf("stale If-None-Match: %d", w.Code)
	}
}

// The console must work with no network but kmsd: no asset may name
// another origin, load a script inline, or use inline styles or handlers
// that the CSP would block.
func TestAssetsAreSelfContained(t *testing.T) {
	h := New()
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|url\(\s*["']?(https?:|//)|@import`)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|\sstyle\s*=|javascript:|eval\(|new Function|innerHTML|document\.write`)
	for _, p := range h.Paths() {
		body := get(t, h, http.MethodGet, Prefix+p, nil).Body.String()
		if p == "favicon.svg" {
			body = strings.Replace(body, `xmlns="http://www.w3.org/2000/svg"`, "", 1) // a namespace name, never fetched
		}
		if m := external.FindString(body); m != "" {
			t.Errorf("%s references another origin: %q", p, m)
		}
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s has inline code or markup injection: %q", p, m)
		}
		if path.Ext(p) == ".js" {
			if n := strings.Count(body, "\n"); n >= 400 {
				t.Errorf("%s has %d lines; split it by page", p, n)
			}
		}
	}
}

// Every script and stylesheet the page and modules name is served, so a
// typo cannot leave the console blank.
func TestEveryReferencedAssetExists(t *testing.T) {
	h := New()
	ref := regexp.MustCompile(`(?:src|href)="([^"#:]+)"|from "\./([^"]+)"`)
	served := map[string]bool{}
	for _, p := range h.Paths() {
		served[p] = true
	}
	for _, p := range h.Paths() {
		body := get(t, h, http.MethodGet, Prefix+p, nil).Body.String()
		for _, m := range ref.FindAllStringSubmatch(body, -1) {
			target := m[1]
			if m[2] != "" {
				target = path.Join(path.Dir(p), m[2])
			}
			if !served[target] {
				t.Errorf("%s refers to %q, which is not served", p, target)
			}
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d assets embedded", len(served))
	}
}
