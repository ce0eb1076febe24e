package main

import (
	"crypto/fips140"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\naccount_id: \"222233334444\"\nregion: eu-west-1\nmax_skew: 2m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KMSD_REGION": "eu-central-1", "KMSD_DATA": "/tmp/from-env"}
	cfg, _, err := loadConfig(modeServe, []string{"--config", file, "--data", "/tmp/from-flag"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := struct {
		listen, account, region, data string
		skew                          time.Duration
		enforce                       bool
	}{"127.0.0.1:9000", "222233334444", "eu-central-1", "/tmp/from-flag", 2 * time.Minute, true}
	if cfg.Listen != want.listen || cfg.AccountID != want.account || cfg.Region != want.region || cfg.DataDir != want.data || cfg.MaxSkew != want.skew || cfg.Enforce != want.enforce {
		t.Fatalf("config = %+v, want file < env < flags with %+v", cfg, want)
	}
	if cfg.RootAccessKey != "" {
		t.Fatal("serve mode must not default to the documentation credentials")
	}
}

func TestConfigRejectsMistakes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	_ = os.WriteFile(file, []byte("lsten: typo\n"), 0o600)
	for name, args := range map[string][]string{
		"unknown yaml key": {"--config", file},
		"bad account":      {"--account-id", "12"},
		"half tls":         {"--tls-cert", "c.pem"},
		"extra argument":   {"oops"},
	} {
		if _, _, err := loadConfig(modeDev, args, io.Discard, func(string) string { return "" }); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := loadConfig(modeDev, nil, io.Discard, func(k string) string {
		if k == "KMSD_ENFORCE" {
			return "maybe"
		}
		return ""
	}); err == nil {
		t.Error("KMSD_ENFORCE=maybe accepted")
	}
}

// TestShortRootSecretInFIPSMode: a root secret too short for SigV4's HMAC
// in FIPS 140-only mode is refused at startup there, and accepted otherwise;
// the banner says which mode the process runs in.
func TestShortRootSecretInFIPSMode(t *testing.T) {
	cfg := defaultConfig()
	cfg.RootSecretKey = "test"
	err := cfg.validate()
	if fips140.Enforced() != (err != nil) {
		t.Fatalf("FIPS 140-only mode %v, validate() = %v", fips140.Enforced(), err)
	}
	var b strings.Builder
	banner(&b, modeDev, defaultConfig(), "http://127.0.0.1:8080", "")
	want := "FIPS 140 mode off"
	if fips140.Enforced() {
		want = "FIPS 140-only mode, Go Cryptographic Module " + fips140.Version()
	}
	if !strings.Contains(b.String(), "  crypto: "+want) {
		t.Errorf("banner does not report %q:\n%s", want, b.String())
	}
}
