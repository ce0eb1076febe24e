package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// startKMSDIn runs the binary with dir as its working directory, where a
// relative data directory would be made, and waits for /healthz.
func startKMSDIn(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{t: t, url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	p.cmd = exec.Command(kmsdBin, append(args, "--listen", addr)...)
	p.cmd.Dir = dir
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
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
	}
	t.Fatalf("kmsd did not become healthy\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	return nil
}

// filesUnder lists every file and directory below dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if path != dir {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// auditEvents reads GET /kmsd/audit: one CloudTrail record a line.
func auditEvents(t *testing.T, p *proc) []map[string]any {
	t.Helper()
	resp, err := http.Get(p.url + "/kmsd/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET /kmsd/audit = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// TestEphemeralKeepsNothingOnDisk runs `kmsd dev --ephemeral --enforce`
// (and --data :memory:) in an empty directory, uses it through the SDK,
// resets and stops it, and checks that no file was made anywhere below
// the directory, while the audit records of the calls can be read.
func TestEphemeralKeepsNothingOnDisk(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"dev", "--ephemeral", "--enforce"}, {"dev", "--data", ":memory:"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			p := startKMSDIn(t, dir, args...)
			if !strings.Contains(p.stdout.String(), "in memory only, nothing on disk") {
				t.Errorf("banner does not say the data is in memory:\n%s", p.stdout)
			}
			c := p.client(docKey, docSecret)
			k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("ephemeral")})
			if err != nil {
				t.Fatal(err)
			}
			enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("in memory")})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			if err != nil || string(dec.Plaintext) != "in memory" {
				t.Fatalf("Decrypt: %v", err)
			}
			var names []string
			for _, ev := range auditEvents(t, p) {
				names = append(names, ev["eventName"].(string))
			}
			if got := strings.Join(names, ","); got != "CreateKey,Encrypt,Decrypt" {
				t.Errorf("audit records = %s, want CreateKey,Encrypt,Decrypt", got)
			}
			if status, body := post(t, p.url+"/kmsd/reset"); status != http.StatusOK {
				t.Fatalf("reset = %d %s", status, body)
			}
			if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId}); errCode(err) != "NotFoundException" {
				t.Fatalf("key after reset: %v", err)
			}
			if evs := auditEvents(t, p); len(evs) != 1 || evs[0]["eventName"] != "DescribeKey" {
				t.Errorf("audit records after the reset: %v, want the DescribeKey only", evs)
			}
			p.stop()
			if files := filesUnder(t, dir); len(files) != 0 {
				t.Fatalf("an ephemeral kmsd wrote %v", files)
			}
		})
	}
}

// TestEphemeralRefusedWhereItCannotApply checks the settings that would
// make --ephemeral mean something else.
func TestEphemeralRefusedWhereItCannotApply(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--data", ":memory:"}, "kmsd serve keeps its keys, identities and audit trail on disk"},
		{[]string{"dev", "--ephemeral", "--data", "elsewhere"}, "--ephemeral keeps nothing on disk, so it takes no data directory (--data elsewhere)"},
		{[]string{"admin", "create-access-key", "--data", ":memory:"}, "no data directory to open while it is stopped"},
	} {
		var out strings.Builder
		err := run(context.Background(), tc.args, &out, &out, noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kmsd %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
