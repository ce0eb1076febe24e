// Package softhsmtest gives tests SoftHSM2 tokens that both the test process
// and a kmsd it starts as a subprocess can open.
//
// SoftHSM2 reads SOFTHSM2_CONF once per process, at C_Initialize, so a test
// process gets one token directory (made on first use, with SOFTHSM2_CONF set
// in the process environment) and every token of the process lives in it.
// Tokens are initialised through PKCS#11 (hsm.InitToken) rather than by
// softhsm2-util: SoftHSM2 enumerates tokens only at C_Initialize, so a token
// that softhsm2-util made while this process had the module loaded would stay
// invisible to it.
//
// SoftHSM2 caches each token's object list per process. When this process
// enumerates tokens (hsm.Open, NewToken) while another process is creating
// an object in one of them, this process can catch the object half-written
// and never see it whole until every Token on the module is closed. A test
// that has a subprocess write to a token should check the result through the
// subprocess or a fresh one, or not open tokens in between (no t.Parallel).
package softhsmtest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kmsd/kmsd/internal/hsm"
)

// modulePaths are where Debian, Ubuntu, Fedora and source builds put the
// SoftHSM2 library.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// shared is the process's token directory; see the package comment for why
// it is process-wide.
var shared struct {
	once   sync.Once
	err    error
	module string
	conf   string
	next   atomic.Int64
}

func setup(t testing.TB) {
	t.Helper()
	shared.once.Do(func() { shared.err = initShared() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

const installHint = "SoftHSM2 is not installed (%s): run `bash scripts/ensure-tools.sh`, which installs the softhsm2 package"

func initShared() error {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return fmt.Errorf(installHint, "no softhsm2-util on PATH")
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			shared.module = p
			break
		}
	}
	if shared.module == "" {
		return fmt.Errorf(installHint, "no libsofthsm2.so in "+strings.Join(modulePaths, ", "))
	}
	removeStale()
	dir := filepath.Join(os.TempDir(), "kmsd-softhsm-"+strconv.Itoa(os.Getpid()))
	tokens := filepath.Join(dir, "tokens")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	shared.conf = conf
	return os.Setenv("SOFTHSM2_CONF", conf)
}

// removeStale deletes the token directories of test processes that have
// ended (a test binary has no hook to remove its own at exit).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "kmsd-softhsm-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "kmsd-softhsm-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// NewToken initialises a fresh SoftHSM2 token and returns the module path,
// the token's label (label with a suffix that makes it unique in the process,
// cut to PKCS#11's 32 bytes) and its random user PIN.
func NewToken(t testing.TB, label string) (module, tokenLabel, pin string) {
	t.Helper()
	setup(t)
	suffix := "-" + strconv.FormatInt(shared.next.Add(1), 10)
	if len(label)+len(suffix) > 32 {
		label = label[:32-len(suffix)]
	}
	tokenLabel = label + suffix
	pin, soPIN := randomPIN(t), randomPIN(t)
	if err := hsm.InitToken(shared.module, tokenLabel, soPIN, pin); err != nil {
		t.Fatalf("softhsmtest: initialise token %q: %v", tokenLabel, err)
	}
	return shared.module, tokenLabel, pin
}

// Env returns the environment a subprocess needs to see this process's
// tokens: append it to os.Environ() for exec.Cmd.Env.
func Env(t testing.TB) []string {
	t.Helper()
	setup(t)
	return []string{"SOFTHSM2_CONF=" + shared.conf}
}

// Module returns the path of the SoftHSM2 library.
func Module(t testing.TB) string {
	t.Helper()
	setup(t)
	return shared.module
}

func randomPIN(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
