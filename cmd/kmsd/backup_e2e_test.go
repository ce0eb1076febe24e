package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// kmsdAdmin runs `kmsd admin ARGS` to completion and returns its stdout
// and stderr together, and its exit code.
func kmsdAdmin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kmsdBin, append([]string{"admin"}, args...)...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}

// wantNoCrash fails if out holds a Go panic or a fault's trace.
func wantNoCrash(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", "fatal error", "SIGSEGV", "SIGBUS", "[signal"} {
		if strings.Contains(out, s) {
			t.Fatalf("output holds %q:\n%s", s, out)
		}
	}
}

func createKey(t *testing.T, c *awskms.Client, desc string) string {
	t.Helper()
	k, err := c.CreateKey(context.Background(), &awskms.CreateKeyInput{Description: aws.String(desc)})
	if err != nil {
		t.Fatal(err)
	}
	return *k.KeyMetadata.KeyId
}

// TestBackupOfARunningServerRestores backs up a server while clients keep
// creating keys, changes more after the backup, stops the server, restores
// the backup and starts again: the state is the backup's (keys made after
// it are gone, its ciphertexts decrypt), the replaced store is kept, and
// the audit log still verifies.
func TestBackupOfARunningServerRestores(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	c := p.client(docKey, "any-secret-will-do")
	before := createKey(t, c, "made before the backup")
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(before), Plaintext: []byte("kept by the backup")})
	if err != nil {
		t.Fatal(err)
	}

	// Writers keep going while the backup is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("busy %d", i))}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	time.Sleep(100 * time.Millisecond)
	backup := filepath.Join(t.TempDir(), "kmsd-backup.db")
	out, code := kmsdAdmin(t, "backup", "--data", data, "--out", backup)
	close(stop)
	wg.Wait()
	fp := rootFingerprints(t, filepath.Join(data, "root.key"))[0]
	for _, want := range []string{
		"Backed up " + filepath.Join(data, "kmsd.db") + " to " + backup + " while the server runs, through " + filepath.Join(data, "kmsd.sock"),
		"sealed by: root key 1 with fingerprint " + fp,
		fmt.Sprintf("schema:    version %d", storeSchema().Current),
		"0 failing authentication",
		"kmsd admin restore --data " + data + " --in " + backup,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("backup of a running server (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", fi, err)
	}
	if out, code := kmsdAdmin(t, "backup", "--data", data, "--out", backup); code == 0 || !strings.Contains(out, backup+" already exists") {
		t.Fatalf("a second backup over the first (exit %d):\n%s", code, out)
	}
	if out, code := kmsdAdmin(t, "restore", "--data", data, "--in", backup); code == 0 || !strings.Contains(out, "a kmsd server is running on "+data+": stop it first") {
		t.Fatalf("restore under a running server (exit %d):\n%s", code, out)
	}

	after := createKey(t, c, "made after the backup")
	if _, err := c.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: aws.String(before)}); err != nil {
		t.Fatal(err)
	}
	p.stop()

	out, code = kmsdAdmin(t, "restore", "--data", data, "--in", backup)
	if code != 0 || !strings.Contains(out, "Restored "+backup+" into "+filepath.Join(data, "kmsd.db")) {
		t.Fatalf("restore (exit %d):\n%s", code, out)
	}
	kept, _ := filepath.Glob(filepath.Join(data, "kmsd.db.before-restore-*"))
	if len(kept) != 1 || !strings.Contains(out, kept[0]) {
		t.Fatalf("the replaced store was not kept: %v\n%s", kept, out)
	}

	p = startKMSD(t, "dev", "--data", data)
	c = p.client(docKey, "any-secret-will-do")
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "kept by the backup" {
		t.Fatalf("the key disabled after the backup is enabled again and decrypts: %v", err)
	}
	if _, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: aws.String(after)}); errCode(err) != "NotFoundException" {
		t.Fatalf("the key made after the backup: %v, want NotFoundException", err)
	}
	p.stop()
	if out, code := kmsdAdmin(t, "check", "--data", data); code != 0 || !strings.Contains(out, "is intact") {
		t.Fatalf("check after the restore (exit %d):\n%s", code, out)
	}
	if stdout, stderr, code := kmsdAudit(t, "--data", data); code != 0 {
		t.Fatalf("audit verify after the restore (exit %d):\n%s%s", code, stdout, stderr)
	}
}

// A stopped server's store is backed up from the file itself.
func TestBackupOfAStoppedServer(t *testing.T) {
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	createKey(t, p.client(docKey, docSecret), "k")
	p.stop()
	backup := filepath.Join(t.TempDir(), "b.db")
	out, code := kmsdAdmin(t, "backup", "--data", data, "--out", backup)
	if code != 0 || !strings.Contains(out, "from the stopped server's store") {
		t.Fatalf("offline backup (exit %d):\n%s", code, out)
	}
	if out, code := kmsdAdmin(t, "check", "--data", data, "--in", backup); code != 0 || !strings.Contains(out, "OK: "+backup+" is intact") {
		t.Fatalf("check of the backup (exit %d):\n%s", code, out)
	}
	empty := t.TempDir()
	if out, code := kmsdAdmin(t, "backup", "--data", empty, "--out", filepath.Join(empty, "b.db")); code == 0 || !strings.Contains(out, "holds no store") {
		t.Fatalf("backup of an empty directory (exit %d):\n%s", code, out)
	}
}

// The admin socket is private to the server's user: mode 0600, and a
// process of another user is refused even when the mode would let it in.
func TestAdminSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs a client as another user, which needs root")
	}
	data := t.TempDir()
	p := startKMSD(t, "dev", "--data", data)
	sock := filepath.Join(data, "kmsd.sock")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket: %v, %v", fi, err)
	}
	// Open the way to the socket, as a careless chmod would, and give
	// the other user a binary and a directory it may write to.
	openToAll(t, data, 0o755)
	for name, mode := range map[string]os.FileMode{sock: 0o666, filepath.Join(data, "kmsd.db"): 0o644} {
		if err := os.Chmod(name, mode); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := t.TempDir()
	openToAll(t, elsewhere, 0o777)
	bin, err := os.ReadFile(kmsdBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "kmsd"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(elsewhere, "stolen.db")
	cmd := exec.Command(filepath.Join(elsewhere, "kmsd"), "admin", "backup", "--data", data, "--out", out)
	cmd.SysProcAttr = nobody()
	got, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a process of another user took a backup:\n%s", got)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the backup file exists")
	}
	t.Logf("the other user's backup:\n%s", got)
	// The server logs the refusal before it closes the connection, but the
	// line may still be on its way through the pipe.
	if logs := waitFor(t, p.stderr, "admin socket: connection refused"); !strings.Contains(logs, "uid 65534") {
		t.Errorf("the server did not log the refused user:\n%s", logs)
	}
	p.stop()
}

// openToAll sets dir's mode and lets everyone through the test's own
// temporary directory above it.
func openToAll(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// A store that records no check value of its root keyring (written by a
// kmsd before stores kept one, and never started since) cannot be matched
// to a root.key later, so backup refuses it instead of writing it silently,
// and says how it gets one. It is left as it was.
func TestBackupRefusesAStoreWithoutItsRootKeyCheck(t *testing.T) {
	dir, _, _ := legacyDataDir(t)
	out, code := kmsdAdmin(t, "backup", "--data", dir, "--out", filepath.Join(t.TempDir(), "b.db"))
	if code == 0 || !strings.Contains(out, "the store holds no check value of the root keyring that sealed it") || !strings.Contains(out, "gets one when a server starts on it") {
		t.Fatalf("backup of a store without a check value (exit %d):\n%s", code, out)
	}
	if hasCheckRecord(t, dir) {
		t.Fatal("the refused backup wrote a check record")
	}
}
