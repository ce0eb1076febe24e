package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

// TestSealPKCS11 runs kmsd with its root keyring wrapped by a key in a
// SoftHSM2 token: it restarts and decrypts what it encrypted, takes the PIN
// from a file as from the environment, and without the token (or with a
// wrong PIN) refuses to start, naming the module and the token and never
// the PIN.
func TestSealPKCS11(t *testing.T) {
	ctx := context.Background()
	module, token, pin := softhsmtest.NewToken(t, "kmsd-seal")
	env := append(softhsmtest.Env(t), "KMSD_SEAL_PKCS11_PIN="+pin)
	dir := t.TempDir()
	args := []string{"dev", "--data", dir, "--seal", "pkcs11", "--seal-pkcs11-module", module, "--seal-pkcs11-token", token}

	p := startKMSDEnv(t, env, args...)
	c := p.client(docKey, docSecret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("wrapped in the token")})
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	assertWrappedKeyring(t, dir, "pkcs11")
	if strings.Contains(p.stdout.String()+p.stderr.String(), pin) {
		t.Fatal("kmsd printed the PIN")
	}

	// The PIN from a file instead of the environment.
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startKMSDEnv(t, softhsmtest.Env(t), append(args, "--seal-pkcs11-pin-file", pinFile)...)
	dec, err := p.client(docKey, docSecret).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "wrapped in the token" {
		t.Fatalf("Decrypt after a restart: %v", err)
	}
	p.stop()

	// A root key rotation rewrites the keyring through the token.
	out, err := runKMSDEnv(t, env, append([]string{"admin", "rotate-root", "--retire"}, args[1:]...)...)
	if err != nil || !strings.Contains(out, "Retired root key 1") {
		t.Fatalf("rotate-root --retire under the pkcs11 seal: %v\n%s", err, out)
	}
	assertWrappedKeyring(t, dir, "pkcs11")
	p = startKMSDEnv(t, env, args...)
	if dec, err = p.client(docKey, docSecret).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "wrapped in the token" {
		t.Fatalf("Decrypt after rotating the root key: %v", err)
	}
	p.stop()

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"no such token", env, []string{"dev", "--data", dir, "--seal", "pkcs11", "--seal-pkcs11-module", module, "--seal-pkcs11-token", "absent-token"},
			[]string{`token "absent-token"`, module, "token not found", "does not start without the token"}},
		{"wrong PIN", append(softhsmtest.Env(t), "KMSD_SEAL_PKCS11_PIN=999999"+pin), args,
			[]string{`token "` + token + `"`, module, "PIN incorrect"}},
		{"no PIN", softhsmtest.Env(t), args, []string{"KMSD_SEAL_PKCS11_PIN", "--seal-pkcs11-pin-file"}},
		{"no module", env, []string{"dev", "--data", dir, "--seal", "pkcs11", "--seal-pkcs11-module", "/nonexistent/libpkcs11.so", "--seal-pkcs11-token", token},
			[]string{"/nonexistent/libpkcs11.so", "PKCS#11 module unavailable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runKMSDEnv(t, tc.env, append(tc.args, "--listen", freeAddr(t))...)
			if err == nil {
				t.Fatalf("kmsd started:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("the refusal does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, pin) {
				t.Fatalf("the refusal shows the PIN:\n%s", out)
			}
		})
	}
}
