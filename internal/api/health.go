package api

import (
	"crypto/fips140"
	"net/http"
	"strconv"
)

// healthBody is /healthz's answer. It reports whether the process runs the
// Go Cryptographic Module in FIPS 140 mode (and enforces it), and the
// module's version, so an operator can check the mode of a running kmsd.
var healthBody = []byte(`{"status":"ok","fips140":{"enabled":` + strconv.FormatBool(fips140.Enabled()) +
	`,"enforced":` + strconv.FormatBool(fips140.Enforced()) + `,"version":` + strconv.Quote(fips140.Version()) + `}}` + "\n")

func serveHealth(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(healthBody)
}
