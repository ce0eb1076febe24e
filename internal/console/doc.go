// Package console serves kmsd's web console: static HTML, CSS and
// JavaScript embedded in the binary, so it works with no network beyond
// kmsd itself. The browser signs its own calls to kmsd's public APIs (KMS,
// IAM/STS, CloudTrail LookupEvents) with SigV4, so this package holds no
// credentials and performs no operation: it only serves files, with a
// strict Content-Security-Policy.
package console
