package main

import (
	"io"
	"os"
	"path/filepath"
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
