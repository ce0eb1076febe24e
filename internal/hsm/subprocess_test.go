//go:build cgo

package hsm_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

// TestMain lets the test binary act as a second process on the same tokens
// (as a kmsd subprocess would) when HSM_TEST_CHILD is set.
func TestMain(m *testing.M) {
	if os.Getenv("HSM_TEST_CHILD") != "" {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child opens the token named in its environment, decrypts what the parent
// sealed, makes a key of its own and prints what it sealed under it.
func child() error {
	tok, err := hsm.Open(os.Getenv("HSM_TEST_MODULE"), os.Getenv("HSM_TEST_TOKEN"), os.Getenv("HSM_TEST_PIN"))
	if err != nil {
		return err
	}
	defer tok.Close()
	sealed, err := hex.DecodeString(os.Getenv("HSM_TEST_SEALED"))
	if err != nil {
		return err
	}
	pt, err := tok.Decrypt("parent", sealed, []byte("aad"))
	if err != nil {
		return fmt.Errorf("child Decrypt: %w", err)
	}
	key := os.Getenv("HSM_TEST_CHILD_KEY")
	if err := tok.GenerateKey(key); err != nil {
		return err
	}
	out, err := tok.Encrypt(key, append(pt, " and back"...), []byte("aad"))
	if err != nil {
		return err
	}
	fmt.Print(hex.EncodeToString(out))
	return nil
}

// runChild runs child() in a new process and returns what it sealed under
// childKey.
func runChild(t *testing.T, module, tokenLabel, pin, childKey string, sealed []byte) []byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), softhsmtest.Env(t)...)
	cmd.Env = append(cmd.Env, "HSM_TEST_CHILD=1", "HSM_TEST_MODULE="+module, "HSM_TEST_TOKEN="+tokenLabel,
		"HSM_TEST_PIN="+pin, "HSM_TEST_CHILD_KEY="+childKey, "HSM_TEST_SEALED="+hex.EncodeToString(sealed))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	fromChild, err := hex.DecodeString(string(out))
	if err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	return fromChild
}

// A token made by softhsmtest is usable by another process given Env, and
// keys made on either side are usable on the other. Not parallel: an Open in
// this process while the child writes its key (C_GetTokenInfo on every slot)
// can leave SoftHSM2 here with a stale view of the token (see softhsmtest).
func TestSubprocessSharesToken(t *testing.T) {
	tok, module, tokenLabel, pin := openToken(t, "subprocess")
	mustGenerate(t, tok, "parent")
	sealed, err := tok.Encrypt("parent", []byte("there"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	fromChild := runChild(t, module, tokenLabel, pin, "child", sealed)
	if has, err := tok.HasKey("child"); err != nil || !has {
		t.Fatalf("HasKey of the child's key = %v, %v", has, err)
	}
	pt, err := tok.Decrypt("child", fromChild, []byte("aad"))
	if err != nil || string(pt) != "there and back" {
		t.Fatalf("Decrypt of the child's data = %q, %v", pt, err)
	}
	if err := tok.GenerateKey("child"); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("GenerateKey of the child's label = %v, want ErrKeyExists", err)
	}
}

// Health checks while another process writes to the token must not leave
// this process blind to the new key: Ping once called C_GetTokenInfo, which
// makes SoftHSM2 re-read the token's object list and can catch the key
// half-written. Not parallel, for the same reason as above.
func TestPingWhileAnotherProcessWrites(t *testing.T) {
	tok, module, tokenLabel, pin := openToken(t, "pingwrite")
	mustGenerate(t, tok, "parent")
	sealed, err := tok.Encrypt("parent", []byte("there"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		stop := make(chan struct{})
		pinged := make(chan error, 1)
		go func() {
			var err error
			for {
				select {
				case <-stop:
					pinged <- err
					return
				default:
				}
				if perr := tok.Ping(); perr != nil {
					err = perr
				}
			}
		}()
		key := fmt.Sprintf("child-%d", i)
		fromChild := runChild(t, module, tokenLabel, pin, key, sealed)
		close(stop)
		if err := <-pinged; err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if pt, err := tok.Decrypt(key, fromChild, []byte("aad")); err != nil || string(pt) != "there and back" {
			t.Fatalf("round %d: Decrypt under the key the child made = %q, %v", i, pt, err)
		}
	}
}
