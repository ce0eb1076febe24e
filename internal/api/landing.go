package api

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// fromPerson reports whether a request comes from a person, with a browser
// or curl, rather than from an AWS SDK: it carries no X-Amz-Target, no
// Authorization and no AWS JSON body, and is a GET or HEAD or asks for a
// path other than "/". SDK-shaped requests keep AWS's JSON errors.
func fromPerson(r *http.Request) bool {
	h := r.Header
	if _, ok := h["X-Amz-Target"]; ok {
		return false
	}
	if _, ok := h["Authorization"]; ok {
		return false
	}
	if strings.Contains(h.Get("Content-Type"), "amz-json") {
		return false
	}
	return r.Method == http.MethodGet || r.Method == http.MethodHead || r.URL.Path != "/"
}

// serveLanding tells a person what this endpoint is and how to use it:
// an HTML page for a browser, plain text otherwise. The root answers 200,
// any other path 404. Such a request is no KMS call, so it is not audited.
func serveLanding(w http.ResponseWriter, r *http.Request) {
	status, lead := http.StatusOK, ""
	if r.URL.Path != "/" {
		status, lead = http.StatusNotFound, fmt.Sprintf("kmsd has no page at %s.", clip(r.URL.Path))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	endpoint := scheme + "://" + clip(r.Host)
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			writeLandingHTML(w, lead, endpoint)
		}
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if lead != "" {
		fmt.Fprintf(w, "%s\n\n", lead)
	}
	fmt.Fprintf(w, `This is kmsd, a key management service that speaks the AWS KMS API.
It answers AWS SDKs and the AWS CLI, not browsers: POST / with the header
X-Amz-Target: TrentService.<Operation>, a JSON body, signed with AWS SigV4.

Use it with the AWS CLI:

  aws --endpoint-url %[1]s kms list-keys

or point any AWS SDK at it:

  export AWS_ENDPOINT_URL_KMS=%[1]s

Health: %[1]s/healthz   Readiness: %[1]s/readyz
`, endpoint)
}

func writeLandingHTML(w http.ResponseWriter, lead, endpoint string) {
	e := html.EscapeString(endpoint)
	if lead != "" {
		lead = "<p><strong>" + html.EscapeString(lead) + "</strong></p>\n"
	}
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kmsd: an AWS KMS endpoint</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code,pre{background:#f3f3f3;padding:.1rem .3rem}pre{padding:.6rem}</style></head>
<body>
<h1>kmsd</h1>
%s<p>This is <strong>kmsd</strong>, a key management service that speaks the AWS Key Management Service (KMS) API.
It answers AWS SDKs and the AWS CLI rather than browsers: each call is a <code>POST /</code> with the header
<code>X-Amz-Target: TrentService.&lt;Operation&gt;</code> and a JSON body, signed with AWS Signature Version 4.</p>
<p>Use it with the AWS CLI:</p>
<pre>aws --endpoint-url %[2]s kms list-keys</pre>
<p>or point any AWS SDK at it:</p>
<pre>export AWS_ENDPOINT_URL_KMS=%[2]s</pre>
<p>Health: <code>%[2]s/healthz</code>, readiness: <code>%[2]s/readyz</code>.</p>
</body></html>
`, lead, e)
}

// clip makes a client-supplied value (the path, the Host header) safe and
// short enough to repeat in the page: printable ASCII, at most 200 bytes.
func clip(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
