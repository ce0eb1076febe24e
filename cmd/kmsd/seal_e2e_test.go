package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/seal"
)

// startKMSDEnv is startKMSD with env added to the child's environment.
func startKMSDEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{t: t, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd = exec.Command(kmsdBin, append(args, "--listen", addr)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	p.waitHealthy()
	return p
}

func (p *proc) waitHealthy() {
	p.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	p.t.Fatalf("kmsd did not become healthy\nstderr:\n%s", p.stderr)
}

// runKMSDEnv runs a kmsd command to its end and returns its output.
func runKMSDEnv(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kmsdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// awsEnv makes the AWS SDK in a child sign with the given pair and read no
// profile of the machine.
func awsEnv(akid, secretKey string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_SESSION_TOKEN=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=", "AWS_REGION=", "AWS_DEFAULT_REGION="}
}

// assertWrappedKeyring checks that a data directory's root.key is a
// wrapped keyring, unreadable as a plaintext one.
func assertWrappedKeyring(t *testing.T, dir, kind string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := seal.KindOf(data); got != kind {
		t.Fatalf("root.key is sealed by %q, want %s:\n%s", got, kind, data)
	}
	if bytes.Contains(data, []byte(`"keys"`)) || bytes.Contains(data, []byte(`"active"`)) {
		t.Fatalf("root.key holds the plaintext keyring's fields:\n%s", data)
	}
	var se *seal.SealError
	if _, err := seal.Open(filepath.Join(dir, "root.key")); !errors.As(err, &se) {
		t.Fatalf("root.key opened as a plaintext keyring: %v", err)
	}
}

// TestSealAWSKMSAutoUnseal runs kmsd B with its root keyring wrapped by a
// key of kmsd A: B starts, restarts and decrypts what it encrypted; with
// A's key disabled, B refuses to start and says DisabledException.
func TestSealAWSKMSAutoUnseal(t *testing.T) {
	ctx := context.Background()
	a := startKMSD(t, "dev", "--data", t.TempDir())
	ca := a.client(docKey, docSecret)
	wrap, err := ca.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("wraps kmsd B's root keyring")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(wrap.KeyMetadata.Arn)
	env := awsEnv(docKey, docSecret)
	dirB := t.TempDir()
	sealArgs := []string{"dev", "--data", dirB, "--seal", "awskms", "--seal-awskms-key-id", arn, "--seal-awskms-endpoint", a.url, "--seal-awskms-region", "us-east-1"}

	b := startKMSDEnv(t, env, sealArgs...)
	cb := b.client(docKey, docSecret)
	k, err := cb.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cb.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("sealed by A")})
	if err != nil {
		t.Fatal(err)
	}
	b.stop()
	assertWrappedKeyring(t, dirB, "awskms")

	b = startKMSDEnv(t, env, sealArgs...)
	dec, err := b.client(docKey, docSecret).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "sealed by A" {
		t.Fatalf("Decrypt after restarting B: %v", err)
	}
	b.stop()
	// Backup and check open the keyring with the configured seal.
	if out, err := runKMSDEnv(t, env, append([]string{"admin", "backup", "--data", dirB, "--out", filepath.Join(t.TempDir(), "b.db")}, sealArgs[3:]...)...); err != nil || !strings.Contains(out, "0 failing authentication") {
		t.Fatalf("backup of a data directory sealed by awskms: %v\n%s", err, out)
	}
	if out, err := runKMSDEnv(t, env, append([]string{"admin", "check", "--data", dirB}, sealArgs[3:]...)...); err != nil {
		t.Fatalf("check of a data directory sealed by awskms: %v\n%s", err, out)
	}

	// Without A's key, B does not start, and says why.
	if _, err := ca.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	out, err := runKMSDEnv(t, env, append(sealArgs, "--listen", freeAddr(t))...)
	if err == nil {
		t.Fatalf("B started with its wrapping key disabled:\n%s", out)
	}
	for _, want := range []string{"DisabledException", arn, a.url} {
		if !strings.Contains(out, want) {
			t.Fatalf("B's refusal does not say %q:\n%s", want, out)
		}
	}
	// Started without the seal, B refuses the wrapped keyring instead of
	// making a new one.
	out, err = runKMSDEnv(t, env, "dev", "--data", dirB, "--listen", freeAddr(t))
	if err == nil || !strings.Contains(out, "is wrapped by seal awskms") {
		t.Fatalf("B without --seal: %v\n%s", err, out)
	}
}

// TestMigrateSealToAWSKMS wraps an existing plaintext keyring with a key
// of another kmsd; the data written before still decrypts.
func TestMigrateSealToAWSKMS(t *testing.T) {
	ctx := context.Background()
	a := startKMSD(t, "dev", "--data", t.TempDir())
	wrap, err := a.client(docKey, docSecret).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(wrap.KeyMetadata.Arn)
	env := awsEnv(docKey, docSecret)
	dir := t.TempDir()
	b := startKMSDEnv(t, env, "dev", "--data", dir)
	cb := b.client(docKey, docSecret)
	k, err := cb.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cb.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("before the move")})
	if err != nil {
		t.Fatal(err)
	}
	// Not while the server runs.
	sealFlags := []string{"--seal-awskms-key-id", arn, "--seal-awskms-endpoint", a.url, "--seal-awskms-region", "us-east-1"}
	if out, err := runKMSDEnv(t, env, append([]string{"admin", "migrate-seal", "--data", dir, "--to", "awskms"}, sealFlags...)...); err == nil || !strings.Contains(out, "stop the running kmsd") {
		t.Fatalf("migrate-seal with the server running: %v\n%s", err, out)
	}
	b.stop()
	out, err := runKMSDEnv(t, env, append([]string{"admin", "migrate-seal", "--data", dir, "--to", "awskms"}, sealFlags...)...)
	if err != nil || !strings.Contains(out, "wrapped by KMS key "+arn) {
		t.Fatalf("migrate-seal: %v\n%s", err, out)
	}
	assertWrappedKeyring(t, dir, "awskms")
	b = startKMSDEnv(t, env, append([]string{"dev", "--data", dir, "--seal", "awskms"}, sealFlags...)...)
	dec, err := b.client(docKey, docSecret).Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "before the move" {
		t.Fatalf("Decrypt after migrating the seal: %v", err)
	}
}
