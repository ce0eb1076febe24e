package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

// rewriteRecorded changes what a wrapped root.key records about its seal,
// as whoever can write the file (kmsd's user) could.
func rewriteRecorded(t *testing.T, dir string, set map[string]string) {
	t.Helper()
	path := filepath.Join(dir, "root.key")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	params, _ := f["params"].(map[string]any)
	if params == nil {
		t.Fatalf("root.key records no params:\n%s", data)
	}
	for k, v := range set {
		params[k] = v
	}
	if data, err = json.Marshal(f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminLoadsOnlyTheConfiguredModule: admin check, backup and restore
// open a pkcs11-sealed keyring with the module of their configuration,
// never with one that the keyring file names: a library that root.key was
// rewritten to name is not loaded (its constructor would leave a marker
// file), and the command refuses, naming the recorded and the configured
// module.
func TestAdminLoadsOnlyTheConfiguredModule(t *testing.T) {
	ctx := context.Background()
	module, token, pin := softhsmtest.NewToken(t, "kmsd-recorded")
	env := append(softhsmtest.Env(t), "KMSD_SEAL_PKCS11_PIN="+pin)
	dir := t.TempDir()
	sealFlags := []string{"--seal", "pkcs11", "--seal-pkcs11-module", module, "--seal-pkcs11-token", token}
	p := startKMSDEnv(t, env, append([]string{"dev", "--data", dir}, sealFlags...)...)
	if _, err := p.client(docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	p.stop()
	backup := filepath.Join(t.TempDir(), "b.db")
	if out, err := runKMSDEnv(t, env, append([]string{"admin", "backup", "--data", dir, "--out", backup}, sealFlags...)...); err != nil {
		t.Fatalf("backup with the configured seal: %v\n%s", err, out)
	}
	if out, err := runKMSDEnv(t, env, append([]string{"admin", "check", "--data", dir}, sealFlags...)...); err != nil {
		t.Fatalf("check with the configured seal: %v\n%s", err, out)
	}

	// A library whose loading leaves a marker file.
	lib := t.TempDir()
	marker := filepath.Join(lib, "LOADED")
	src := filepath.Join(lib, "planted.c")
	if err := os.WriteFile(src, []byte(`#include <stdio.h>
__attribute__((constructor)) static void loaded(void) {
  FILE *f = fopen(MARKER, "w");
  if (f) fclose(f);
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(lib, "libplanted.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", `-DMARKER="`+marker+`"`, "-o", planted, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	rewriteRecorded(t, dir, map[string]string{"module": planted})

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"check", append([]string{"admin", "check", "--data", dir}, sealFlags...), []string{"module", planted, module, "configuration"}},
		{"backup", append([]string{"admin", "backup", "--data", dir, "--out", filepath.Join(t.TempDir(), "c.db")}, sealFlags...), []string{"module", planted, module}},
		{"restore", append([]string{"admin", "restore", "--data", dir, "--in", backup}, sealFlags...), []string{"module", planted, module}},
		{"check without seal settings", []string{"admin", "check", "--data", dir}, []string{planted, "--seal-pkcs11-module", "does not load the module a keyring file names"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runKMSDEnv(t, env, tc.args...)
			if _, serr := os.Stat(marker); serr == nil {
				t.Fatalf("kmsd loaded the library root.key names:\n%s", out)
			}
			if err == nil {
				t.Fatalf("kmsd admin %s accepted root.key naming another module:\n%s", tc.name, out)
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

// TestAdminCallsOnlyTheConfiguredEndpoint: for an awskms-sealed keyring,
// admin check calls the KMS endpoint of its configuration; one that
// root.key was rewritten to name receives no request (so neither the
// signed requests nor the chance to answer with a keyring of its choice).
func TestAdminCallsOnlyTheConfiguredEndpoint(t *testing.T) {
	ctx := context.Background()
	a := startKMSD(t, "dev", "--data", t.TempDir())
	wrap, err := a.client(docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(wrap.KeyMetadata.Arn)
	env := awsEnv(docKey, docSecret)
	dir := t.TempDir()
	sealFlags := []string{"--seal", "awskms", "--seal-awskms-key-id", arn, "--seal-awskms-endpoint", a.url, "--seal-awskms-region", "us-east-1"}
	b := startKMSDEnv(t, env, append([]string{"dev", "--data", dir}, sealFlags...)...)
	b.stop()

	var calls atomic.Int32
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer decoy.Close()
	rewriteRecorded(t, dir, map[string]string{"endpoint": decoy.URL})
	for _, args := range [][]string{
		append([]string{"admin", "check", "--data", dir}, sealFlags...),
		{"admin", "check", "--data", dir},
	} {
		out, err := runKMSDEnv(t, env, args...)
		if err == nil || !strings.Contains(out, decoy.URL) {
			t.Fatalf("admin check with root.key naming another endpoint: %v\n%s", err, out)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("the endpoint root.key names received %d requests:\n%s", n, out)
		}
	}
}
