package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// kmsdBin is the binary under test, built once by TestMain.
var kmsdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kmsd-e2e-")
	if err != nil {
		panic(err)
	}
	kmsdBin = filepath.Join(dir, "kmsd")
	// A binary built with -race sleeps a second at exit by default, and the
	// tests start and stop kmsd hundreds of times. Its race reports go to
	// files, checked after the tests: many of the processes are killed, or
	// run by scripts whose output is not kept, and their reports would be
	// lost with them.
	raceLogs := filepath.Join(dir, "race")
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0 log_path="+raceLogs))
	// kmsdtest: the crash hooks of the crash tests (rotateroot_crashhook.go).
	args := []string{"build", "-tags", "kmsdtest", "-o", kmsdBin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kmsd:", err)
		os.Exit(1)
	}
	code := m.Run()
	if reports, _ := filepath.Glob(raceLogs + ".*"); len(reports) > 0 {
		for _, r := range reports {
			b, _ := os.ReadFile(r)
			fmt.Fprintf(os.Stderr, "the race detector reported in a kmsd process (%s):\n%s\n", filepath.Base(r), b)
		}
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
}

// syncBuffer collects a child's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct free addresses for servers the test starts
// later: each port is held until all are chosen, since a port just closed
// may be handed out again at once.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs[i] = l.Addr().String()
	}
	return addrs
}

// startKMSD runs the binary and waits for /healthz.
func startKMSD(t *testing.T, args ...string) *proc {
	t.Helper()
	addr := flagValue(args, "listen")
	if addr == "" {
		addr = freeAddr(t)
		args = append(args, "--listen", addr)
	}
	p := &proc{t: t, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd = exec.Command(kmsdBin, args...)
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
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("kmsd did not become healthy\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	return nil
}

func (p *proc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("kmsd exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
	}
}

func (p *proc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *proc) client(akid, secretKey string) *kms.Client {
	return kms.New(kms.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(p.url),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secretKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       sdkhttp.New(),
	})
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestRestartAndCrashKeepAcknowledgedWrites stops kmsd gracefully and then
// with SIGKILL; every acknowledged key, alias, tag and policy is there after
// each restart, and every ciphertext still decrypts.
func TestRestartAndCrashKeepAcknowledgedWrites(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	addr := freeAddr(t)
	type written struct {
		keyID, alias string
		blob         []byte
		plaintext    string
	}
	var acked []written
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"custom","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	for round := 0; round < 3; round++ {
		p := startKMSD(t, "dev", "--data", data, "--listen", addr)
		c := p.client("AKIAIOSFODNN7EXAMPLE", "any-secret-will-do")
		for _, w := range acked {
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.blob})
			if err != nil || string(dec.Plaintext) != w.plaintext {
				t.Fatalf("round %d: ciphertext of %s does not decrypt: %v", round, w.keyID, err)
			}
			d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(w.alias)})
			if err != nil || *d.KeyMetadata.KeyId != w.keyID {
				t.Fatalf("round %d: alias %s lost: %v", round, w.alias, err)
			}
			pol, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(w.keyID)})
			if err != nil || *pol.Policy != policy {
				t.Fatalf("round %d: policy of %s lost: %v", round, w.keyID, err)
			}
			tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(w.keyID)})
			if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagValue != w.alias {
				t.Fatalf("round %d: tags of %s lost: %v", round, w.keyID, err)
			}
		}
		for i := 0; i < 5; i++ {
			k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy)})
			if err != nil {
				t.Fatal(err)
			}
			w := written{keyID: *k.KeyMetadata.KeyId, alias: fmt.Sprintf("alias/r%d-%d", round, i), plaintext: fmt.Sprintf("secret %d/%d", round, i)}
			if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(w.alias), TargetKeyId: aws.String(w.keyID)}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(w.keyID), Tags: []types.Tag{{TagKey: aws.String("alias"), TagValue: aws.String(w.alias)}}}); err != nil {
				t.Fatal(err)
			}
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(w.alias), Plaintext: []byte(w.plaintext)})
			if err != nil {
				t.Fatal(err)
			}
			w.blob = enc.CiphertextBlob
			acked = append(acked, w)
		}
		if round%2 == 0 {
			p.kill()
		} else {
			p.stop()
		}
	}
	// The audit log survived the crashes with its chain intact.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--file", filepath.Join(data, "audit", "kmsd-audit.jsonl")}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("audit verify after crashes: %v\n%s", err, out.String())
	}
}

// TestServeBootstrapsAndEnforcesSigV4 checks serve mode end to end: the first
// start prints an access key once, that key works, and anything else is refused.
func TestServeBootstrapsAndEnforcesSigV4(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "serve", "--data", data)
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve did not print a bootstrap access key:\n%s", p.stdout)
	}
	good := p.client(m[1], m[2])
	if _, err := good.CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Fatalf("request signed with the bootstrap key: %v", err)
	}
	if _, err := p.client(m[1], m[2]+"x").ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v, want InvalidSignatureException", err)
	}
	if _, err := p.client("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "UnrecognizedClientException" {
		t.Fatalf("documentation credentials against serve: %v, want UnrecognizedClientException", err)
	}
	p.stop()

	// A second start prints no new secret; an admin-made key works too.
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "create-access-key", "--data", data}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("admin create-access-key: %v\n%s", err, out.String())
	}
	m2 := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)\s+export AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(out.String())
	if m2 == nil {
		t.Fatalf("admin output has no key:\n%s", out.String())
	}
	p = startKMSD(t, "serve", "--data", data)
	if strings.Contains(p.stdout.String(), "AWS_SECRET_ACCESS_KEY=") && !strings.Contains(p.stdout.String(), "<your secret key>") {
		t.Fatalf("second start printed a secret again:\n%s", p.stdout)
	}
	if _, err := p.client(m2[1], m2[2]).ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("admin-made key: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(data, "kmsd.db")); err != nil || bytes.Contains(data, []byte(m2[2])) || bytes.Contains(data, []byte(m[2])) {
		t.Fatalf("the store holds a secret access key in plaintext (read err %v)", err)
	}
	p.stop()
}

// TestDevEnforceVerifiesSignatures runs dev --enforce with the documented pair.
func TestDevEnforceVerifiesSignatures(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	if _, err := p.client("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatalf("documented root credentials: %v", err)
	}
	if _, err := p.client("AKIAIOSFODNN7EXAMPLE", "wrong-secret-access-key").ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v", err)
	}
	if !strings.Contains(p.stdout.String(), "SigV4 enforced") {
		t.Fatalf("banner does not say auth is enforced:\n%s", p.stdout)
	}
}

// TestSeedAtStart seeds keys twice through the binary and uses them.
func TestSeedAtStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte(`keys:
  - id: 11111111-2222-3333-4444-555555555555
    description: fixtures key
    material: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
    aliases: [alias/fixtures]
    tags: {env: test}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	var blob []byte
	for i := 0; i < 2; i++ {
		p := startKMSD(t, "dev", "--data", data, "--seed", seed)
		c := p.client("AKIAIOSFODNN7EXAMPLE", "any-secret-will-do")
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/fixtures")})
		if err != nil || *d.KeyMetadata.KeyId != "11111111-2222-3333-4444-555555555555" || *d.KeyMetadata.Description != "fixtures key" {
			t.Fatalf("start %d: seeded key: %v", i, err)
		}
		if i == 0 {
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/fixtures"), Plaintext: []byte("fixture")})
			if err != nil {
				t.Fatal(err)
			}
			blob = enc.CiphertextBlob
		}
		p.stop()
	}
	// A different data directory seeded from the same file decrypts the blob.
	p := startKMSD(t, "dev", "--data", filepath.Join(dir, "other"), "--seed", seed)
	dec, err := p.client("AKIAIOSFODNN7EXAMPLE", "any-secret-will-do").Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil || string(dec.Plaintext) != "fixture" {
		t.Fatalf("decrypt with an independently seeded kmsd: %v", err)
	}
	p.stop()
}

// waitFor polls a process's output until it contains s and returns the
// output; after 30 seconds it fails the test with what it waited for and
// the output so far.
func waitFor(t *testing.T, buf *syncBuffer, s string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 30s waiting for %q in the output:\n%s", s, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return buf.String()
}
