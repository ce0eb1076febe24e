package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// post sends an unsigned POST, as test fixtures call moto's and
// LocalStack's reset endpoints, and returns the status and body.
func post(t *testing.T, url string) (int, string) {
	t.Helper()
	return httpDo(t, http.MethodPost, url)
}

func httpDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const resetSeed = `keys:
  - id: 0a0b0c0d-0000-4000-8000-000000000001
    description: seeded
    material: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
    aliases: [alias/seeded]
`

// TestResetReturnsAFreshState resets a `kmsd dev --enforce` server
// through each of its reset paths and checks through the SDK that what was
// made before is gone (keys, aliases, IAM users and their access keys,
// audit records), that the root credentials and the seed are there again,
// and that the server did not restart.
func TestResetReturnsAFreshState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte(resetSeed), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := startKMSD(t, "dev", "--enforce", "--data", data, "--seed", seed)
	root := p.as(docKey, docSecret, "")
	_, _, auditLog := dataPaths(data)

	for _, tc := range []struct {
		path, wantBody string
	}{
		{"/kmsd/reset", `{"status":"ok"}` + "\n"},
		{"/moto-api/reset", `{"status":"ok"}` + "\n"},
		{"/_localstack/state/reset", ""},
		{"/_localstack/state/kms/reset", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			k, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("made before the reset")})
			if err != nil {
				t.Fatal(err)
			}
			keyID := *k.KeyMetadata.KeyId
			if _, err := root.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/before"), TargetKeyId: aws.String(keyID)}); err != nil {
				t.Fatal(err)
			}
			user := newUser(t, p, root, "before", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
			if _, err := user.kms.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
				t.Fatalf("the user's key before the reset: %v", err)
			}
			enc, err := root.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/seeded"), Plaintext: []byte("fixture")})
			if err != nil {
				t.Fatal(err)
			}
			const made = `"description":"made before the reset"`
			if log, _ := os.ReadFile(auditLog); !bytes.Contains(log, []byte(made)) {
				t.Fatalf("the audit log does not record the CreateKey before the reset")
			}
			pid := p.cmd.Process.Pid

			status, body := post(t, p.url+tc.path)
			if status != http.StatusOK || body != tc.wantBody {
				t.Fatalf("POST %s = %d %q, want 200 %q", tc.path, status, body, tc.wantBody)
			}

			if p.cmd.ProcessState != nil || p.cmd.Process.Pid != pid {
				t.Fatal("kmsd exited")
			}
			list, err := root.kms.ListKeys(ctx, &kms.ListKeysInput{})
			if err != nil {
				t.Fatalf("root credentials after the reset: %v", err)
			}
			if len(list.Keys) != 1 || *list.Keys[0].KeyId != "0a0b0c0d-0000-4000-8000-000000000001" {
				t.Fatalf("keys after the reset: %d, want only the seeded one", len(list.Keys))
			}
			if _, err := root.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)}); errCode(err) != "NotFoundException" {
				t.Fatalf("DescribeKey of a key made before the reset: %v", err)
			}
			if _, err := root.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/before")}); errCode(err) != "NotFoundException" {
				t.Fatalf("alias made before the reset: %v", err)
			}
			if _, err := root.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("before")}); errCode(err) != "NoSuchEntity" {
				t.Fatalf("GetUser of a user made before the reset: %v", err)
			}
			if _, err := user.kms.ListKeys(ctx, &kms.ListKeysInput{}); errCode(err) != "UnrecognizedClientException" {
				t.Fatalf("the user's access key after the reset: %v, want UnrecognizedClientException", err)
			}
			dec, err := root.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "fixture" {
				t.Fatalf("a blob of the seeded key after the reset: %v", err)
			}
			if log, _ := os.ReadFile(auditLog); bytes.Contains(log, []byte(made)) {
				t.Fatalf("the audit log still records the CreateKey made before the reset")
			}
		})
	}
	p.stop()
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "--data", data}, &out, &out, os.Getenv); err != nil {
		t.Fatalf("audit verify after resets: %v\n%s", err, out.String())
	}
}

// TestResetRoutes checks the answers that are not a reset: moto's GET,
// another LocalStack service, a reset of serve (which has none), and a
// reset from another machine under --enforce.
func TestResetRoutes(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--data", t.TempDir())
	c := p.client(docKey, docSecret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := httpDo(t, http.MethodGet, p.url+"/moto-api/reset"); status != http.StatusBadRequest || body != `{"Error":"Need to POST to reset Moto"}`+"\n" {
		t.Errorf("GET /moto-api/reset = %d %q", status, body)
	}
	if status, _ := httpDo(t, http.MethodGet, p.url+"/kmsd/reset"); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /kmsd/reset = %d, want 405", status)
	}
	if status, body := post(t, p.url+"/_localstack/state/s3/reset"); status != http.StatusOK || body != "" {
		t.Errorf("POST /_localstack/state/s3/reset = %d %q", status, body)
	}
	if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("resetting another service's state reset kmsd's: %v", err)
	}

	s, akid, sec := serveCreds(t, t.TempDir())
	sc := s.client(akid, sec)
	k, err = sc.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/kmsd/reset", "/moto-api/reset", "/_localstack/state/reset"} {
		if status, _ := post(t, s.url+path); status == http.StatusOK {
			t.Errorf("serve answered POST %s with 200", path)
		}
	}
	if _, err := sc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("serve lost a key to a reset request: %v", err)
	}
}

// TestResetFinishesRequestsInFlight resets a server while clients create
// keys and encrypt with them: every request either succeeds or meets the
// fresh state (a key that no longer exists), none fails inside kmsd. Each
// reset waits for a client to succeed with requests begun since the
// previous one; the resets go on until a request was sent before a reset
// and answered after it, and requests begun after the last reset succeed.
func TestResetFinishesRequestsInFlight(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	c := p.client(docKey, docSecret)
	var (
		sent, answered atomic.Int64 // resets sent, resets answered
		spanned        atomic.Int64 // requests a whole reset happened within
		// succeeded carries, for each client round that succeeded, the
		// resets answered when it began; a full channel drops it.
		succeeded = make(chan int64, 64)
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		mu        sync.Mutex
		failures  []string
		done      int
	)
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	// call runs one request and counts it if a reset was sent after it
	// began and answered before it ended.
	call := func(f func() error) error {
		before := sent.Load()
		err := f()
		if answered.Load() > before {
			spanned.Add(1)
		}
		return err
	}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := answered.Load()
				var k *kms.CreateKeyOutput
				err := call(func() (err error) { k, err = c.CreateKey(ctx, &kms.CreateKeyInput{}); return err })
				if err == nil {
					err = call(func() error {
						_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
						return err
					})
				}
				var ae smithy.APIError
				mu.Lock()
				switch {
				case err == nil:
					done++
				case errors.As(err, &ae) && ae.ErrorCode() == "NotFoundException":
				default:
					failures = append(failures, err.Error())
				}
				mu.Unlock()
				if err == nil {
					select {
					case succeeded <- began:
					default:
					}
				}
			}
		})
	}
	deadline := time.Now().Add(time.Minute)
	awaitSuccess := func(resets int64) {
		t.Helper()
		timeout := time.After(time.Until(deadline))
		for {
			select {
			case got := <-succeeded:
				if got == resets {
					return
				}
			case <-timeout:
				t.Fatalf("gave up after a minute waiting for requests begun after %d resets to succeed (%d requests spanned a reset)", resets, spanned.Load())
			}
		}
	}
	for n := int64(0); n < 3 || spanned.Load() == 0; n++ {
		awaitSuccess(n)
		sent.Add(1)
		if status, body := post(t, p.url+"/kmsd/reset"); status != http.StatusOK {
			t.Fatalf("reset = %d %s", status, body)
		}
		answered.Add(1)
	}
	awaitSuccess(answered.Load())
	halt()
	t.Logf("%d resets, %d requests spanned one, %d rounds succeeded", answered.Load(), spanned.Load(), done)
	if len(failures) > 0 {
		t.Fatalf("%d requests failed across resets, first: %s", len(failures), failures[0])
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Fatalf("kmsd panicked:\n%s", p.stderr)
	}
}
