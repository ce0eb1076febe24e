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

func noEnv(string) string { return "" }

// TestQuotaDefaultsByMode: serve enforces AWS's request quotas unless told
// otherwise, dev enforces none unless asked (dev --quotas aws), and the
// setting comes from flags, KMSD_QUOTAS or the config file, where it may be
// a map of overrides.
func TestQuotaDefaultsByMode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	if err := os.WriteFile(file, []byte("quotas:\n  CreateKey: 1\n  symmetric: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m       mode
		args    []string
		env     map[string]string
		want    string
		limited bool
	}{
		{modeServe, nil, nil, "aws", true},
		{modeDev, nil, nil, "off", false},
		{modeDev, []string{"--quotas", "aws"}, nil, "aws", true},
		{modeServe, []string{"--quotas", "off"}, nil, "off", false},
		{modeDev, nil, map[string]string{"KMSD_QUOTAS": "0.1"}, "0.1", true},
		{modeDev, []string{"--config", file}, nil, "aws,CreateKey=1,symmetric=50", true},
	} {
		cfg, _, err := loadConfig(c.m, c.args, io.Discard, func(k string) string { return c.env[k] })
		if err != nil {
			t.Errorf("%s %v: %v", c.m, c.args, err)
			continue
		}
		if string(cfg.Quotas) != c.want || (cfg.limiter() != nil) != c.limited {
			t.Errorf("%s %v %v: quotas %q (limiter %v), want %q (limited %v)", c.m, c.args, c.env, cfg.Quotas, cfg.limiter() != nil, c.want, c.limited)
		}
	}
	_, _, err := loadConfig(modeDev, []string{"--quotas", "aws,CreateKye=1"}, io.Discard, noEnv)
	if err == nil || !strings.Contains(err.Error(), `no quota is named "CreateKye"`) {
		t.Errorf("a misspelt quota name: %v", err)
	}
}

// TestListenerGuards: serve refuses to listen beyond loopback without TLS,
// dev refuses to listen beyond loopback while it accepts any credentials;
// each gives in only to the flag that names the risk.
func TestListenerGuards(t *testing.T) {
	for _, c := range []struct {
		m       mode
		args    []string
		refused string // a word the error must contain; "" for accepted
	}{
		{modeServe, []string{"--listen", "0.0.0.0:8443"}, "--insecure-allow-plaintext-listener"},
		{modeServe, []string{"--listen", ":8443"}, "without TLS"},
		{modeServe, []string{"--listen", "192.0.2.10:8443"}, "--tls-cert"},
		{modeServe, []string{"--listen", "kms.example.com:8443"}, "without TLS"},
		{modeServe, []string{"--listen", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, ""},
		{modeServe, []string{"--listen", "0.0.0.0:8443", "--insecure-allow-plaintext-listener"}, ""},
		{modeServe, []string{"--listen", "127.0.0.1:8443"}, ""},
		{modeServe, []string{"--listen", "[::1]:8443"}, ""},
		{modeServe, []string{"--listen", "localhost:8443"}, ""},
		{modeDev, []string{"--listen", "0.0.0.0:8080"}, "--insecure-allow-permissive-listener"},
		{modeDev, []string{"--listen", "[::]:8080"}, "--enforce"},
		{modeDev, []string{"--listen", "0.0.0.0:8080", "--enforce"}, ""},
		{modeDev, []string{"--listen", "0.0.0.0:8080", "--insecure-allow-permissive-listener"}, ""},
		{modeDev, []string{"--listen", "127.0.0.2:8080"}, ""},
	} {
		_, _, err := loadConfig(c.m, c.args, io.Discard, noEnv)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s %v refused: %v", c.m, c.args, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%s %v: %v, want a refusal naming %s", c.m, c.args, err, c.refused)
		}
	}
	// The same consent works from the environment and the config file.
	env := map[string]string{"KMSD_LISTEN": "0.0.0.0:8443", "KMSD_INSECURE_ALLOW_PLAINTEXT_LISTENER": "true"}
	if _, _, err := loadConfig(modeServe, nil, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Errorf("consent in the environment: %v", err)
	}
}

// TestMaxSkewIsCapped: a clock window wider than 15 minutes is refused,
// since a captured signed request can be replayed for that long.
func TestMaxSkewIsCapped(t *testing.T) {
	if _, _, err := loadConfig(modeServe, []string{"--max-skew", "15m"}, io.Discard, noEnv); err != nil {
		t.Fatalf("--max-skew 15m: %v", err)
	}
	for _, skew := range []string{"16m", "24h"} {
		_, _, err := loadConfig(modeServe, []string{"--max-skew", skew}, io.Discard, noEnv)
		if err == nil || !strings.Contains(err.Error(), "the most kmsd accepts") {
			t.Errorf("--max-skew %s: %v, want a refusal", skew, err)
		}
	}
}

// TestSecretFlagWarns: --root-secret-key works but warns that the secret
// shows in the process list, and names the safer ways; the environment
// variable does not warn.
func TestSecretFlagWarns(t *testing.T) {
	const secretKey = "a-long-enough-root-secret-for-tests"
	var stderr strings.Builder
	cfg, _, err := loadConfig(modeDev, []string{"--enforce", "--root-secret-key", secretKey}, &stderr, noEnv)
	if err != nil || cfg.RootSecretKey != secretKey {
		t.Fatalf("loadConfig: %v", err)
	}
	for _, want := range []string{"warning", "--root-secret-key", "KMSD_ROOT_SECRET_KEY", "root_secret_key"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not mention %s", stderr.String(), want)
		}
	}
	if strings.Contains(stderr.String(), secretKey) {
		t.Error("the warning repeats the secret")
	}
	stderr.Reset()
	env := map[string]string{"KMSD_ROOT_SECRET_KEY": secretKey}
	if _, _, err := loadConfig(modeDev, []string{"--enforce"}, &stderr, func(k string) string { return env[k] }); err != nil || stderr.Len() != 0 {
		t.Fatalf("secret from the environment: %v, stderr %q", err, stderr.String())
	}
}

// TestLogSettingsRefusedAtStart: a log level or format kmsd does not know
// stops it at start with a message that names the setting, instead of
// logging at a level nobody asked for.
func TestLogSettingsRefusedAtStart(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "verbose"}, `log level "verbose" is not debug, info, warn or error (--log-level`},
		{[]string{"--log-format", "xml"}, `log format "xml" is not text or json (--log-format`},
	} {
		out, err := runBin(t, append([]string{"dev", "--data", t.TempDir(), "--listen", freeAddr(t)}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("kmsd dev %v: %v\n%s\nwant a refusal saying %q", tc.args, err, out, tc.want)
		}
	}
	for _, level := range []string{"debug", "INFO", "warn", "error"} {
		if _, _, err := loadConfig(modeServe, []string{"--log-level", level}, io.Discard, noEnv); err != nil {
			t.Errorf("--log-level %s: %v", level, err)
		}
	}
}
