//go:build wycheproof

// This file is never built: no build sets the wycheproof tag. Its import
// keeps github.com/c2sp/wycheproof in go.mod, so wycheproof_test.go can
// locate the Project Wycheproof test vectors with `go mod download` at the
// pinned version, without embedding ~100 MB of JSON in the test binary.

package keys

import _ "github.com/c2sp/wycheproof"
