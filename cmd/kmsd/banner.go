package main

import (
	"crypto/fips140"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

func banner(w io.Writer, m mode, cfg Config, url, bootstrap string) {
	db, key, auditLog := dataPaths(cfg.DataDir)
	fmt.Fprintf(w, "kmsd %s %s listening on %s\n", m, version, url)
	if cfg.Store != "" {
		fmt.Fprint(w, clusterBanner(cfg))
	} else if cfg.ephemeral() {
		fmt.Fprintf(w, "  data:  in memory only, nothing on disk; gone when kmsd stops (audit: the newest %d records, at GET %s/kmsd/audit)\n", memAuditRecords, url)
	} else {
		fmt.Fprintf(w, "  data:  %s (store %s, root key %s, audit log %s)\n", cfg.DataDir, filepath.Base(db), filepath.Base(key), strings.TrimPrefix(auditLog, filepath.Clean(cfg.DataDir)+"/"))
	}
	if m == modeDev {
		fmt.Fprintf(w, "  reset: curl -X POST %s/kmsd/reset   (a fresh state without a restart; also /moto-api/reset and /_localstack/state/reset)\n", url)
	}
	switch {
	case !cfg.Enforce:
		fmt.Fprintf(w, "  auth:  permissive: any credentials are accepted and act as the root of account %s\n", cfg.AccountID)
	case cfg.RootAccessKey != "":
		fmt.Fprintf(w, "  auth:  SigV4 enforced; account %s root credentials: %s / %s\n", cfg.AccountID, cfg.RootAccessKey, maskSecret(cfg.RootSecretKey))
	default:
		fmt.Fprintf(w, "  auth:  SigV4 enforced against stored access keys of account %s\n", cfg.AccountID)
	}
	fmt.Fprint(w, bootstrap)
	fmt.Fprintf(w, "  crypto: %s\n", fipsStatus())
	fmt.Fprint(w, xksBanner(cfg, url))
	if len(cfg.Regions) > 0 {
		fmt.Fprintf(w, "  regions: %s (others are refused)\n", strings.Join(cfg.Regions, ", "))
	} else {
		fmt.Fprintf(w, "  regions: any, from each request's SigV4 scope (default %s)\n", cfg.Region)
	}
	if m == modeServe {
		fmt.Fprintf(w, "  try:   aws --region %s --endpoint-url %s kms list-keys   (with an access key of this server in the environment)\n", cfg.Region, url)
		return
	}
	fmt.Fprintf(w, "  try:   AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s aws --region %s --endpoint-url %s kms create-key\n",
		firstNonEmpty(cfg.RootAccessKey, docAccessKey), firstNonEmpty(maskSecret(cfg.RootSecretKey), docSecretKey), cfg.Region, url)
}

// maskSecret prints the root secret only when it is AWS's public
// documentation example; any real secret stays out of the terminal.
func maskSecret(s string) string {
	if s != "" && s != docSecretKey {
		return "<your secret key>"
	}
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fipsStatus describes the FIPS 140 mode of the Go Cryptographic Module
// this process runs with, for the startup banner.
func fipsStatus() string {
	switch {
	case fips140.Enforced():
		return "FIPS 140-only mode, Go Cryptographic Module " + fips140.Version() + " (non-FIPS key specs are refused)"
	case fips140.Enabled():
		return "FIPS 140 mode, Go Cryptographic Module " + fips140.Version()
	}
	return "FIPS 140 mode off (build with GOFIPS140=v1.0.0 and run with GODEBUG=fips140=only for it)"
}
