package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSealConfig reads the seal: section of the config file, overridden by
// KMSD_SEAL_* variables and then --seal-* flags; --print-config shows it
// without the PIN.
func TestSealConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	yaml := `seal:
  type: pkcs11
  pkcs11:
    module: /usr/lib/softhsm/libsofthsm2.so
    token: from-file
    key_label: root-wrap
  awskms:
    key_id: alias/kmsd-root
    region: eu-west-1
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	const pin = "pin-9f8e7d6c"
	env := map[string]string{"KMSD_SEAL_PKCS11_TOKEN": "from-env", "KMSD_SEAL_PKCS11_PIN": pin}
	cfg, _, err := loadConfig(modeServe, []string{"--config", file, "--seal-awskms-endpoint", "https://kms.internal:8443"}, io.Discard, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Seal
	if s.Type != "pkcs11" || s.PKCS11.Module != "/usr/lib/softhsm/libsofthsm2.so" || s.PKCS11.Token != "from-env" || s.PKCS11.KeyLabel != "root-wrap" ||
		s.AWSKMS.KeyID != "alias/kmsd-root" || s.AWSKMS.Region != "eu-west-1" || s.AWSKMS.Endpoint != "https://kms.internal:8443" {
		t.Fatalf("seal config = %+v", s)
	}
	if pr := cfg.printable(); !strings.Contains(pr, "token: from-env") || strings.Contains(pr, pin) {
		t.Fatalf("--print-config:\n%s", pr)
	}
}

// TestSealConfigScalar takes "seal: awskms" as the seal's type alone.
func TestSealConfigScalar(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kmsd.yaml")
	if err := os.WriteFile(file, []byte("seal: awskms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KMSD_SEAL_AWSKMS_KEY_ID": "alias/kmsd-root"}
	cfg, _, err := loadConfig(modeDev, []string{"--config", file}, io.Discard, func(k string) string { return env[k] })
	if err != nil || cfg.Seal.Type != "awskms" || cfg.Seal.AWSKMS.KeyID != "alias/kmsd-root" {
		t.Fatalf("seal: awskms read as %+v, %v", cfg.Seal, err)
	}
	_ = os.WriteFile(file, []byte("seal:\n  typo: awskms\n"), 0o600)
	if _, _, err := loadConfig(modeDev, []string{"--config", file}, io.Discard, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), `line 2: unknown setting "seal.typo"`) {
		t.Fatalf("a misspelt seal setting: %v", err)
	}
}

func TestSealConfigRejectsMistakes(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown seal":       {[]string{"--seal", "tpm"}, nil, `seal "tpm" is not file, pkcs11 or awskms`},
		"awskms without key": {[]string{"--seal", "awskms"}, nil, "--seal-awskms-key-id"},
		"pkcs11 without token": {[]string{"--seal", "pkcs11", "--seal-pkcs11-module", "/m.so"}, nil,
			"--seal-pkcs11-token"},
		"pkcs11 without PIN": {[]string{"--seal", "pkcs11", "--seal-pkcs11-module", "/m.so", "--seal-pkcs11-token", "t"}, nil,
			"KMSD_SEAL_PKCS11_PIN"},
		"pkcs11 module by bare name": {[]string{"--seal", "pkcs11", "--seal-pkcs11-module", "libsofthsm2.so", "--seal-pkcs11-token", "t"},
			map[string]string{"KMSD_SEAL_PKCS11_PIN": "1234"}, "absolute path"},
		"ephemeral": {[]string{"--ephemeral", "--seal", "awskms", "--seal-awskms-key-id", "k"}, nil, "ephemeral"},
		"cluster": {[]string{"--seal", "pkcs11", "--seal-pkcs11-module", "/m.so", "--seal-pkcs11-token", "t"},
			map[string]string{"KMSD_STORE": "postgres://db/kmsd", "KMSD_SEAL_PKCS11_PIN": "1234"}, "cluster node"},
	} {
		_, _, err := loadConfig(modeDev, tc.args, io.Discard, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", name, err, tc.want)
		}
	}
}
