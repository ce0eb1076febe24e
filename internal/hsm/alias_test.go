//go:build cgo

package hsm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

// TestModuleAliasesShareTheLogin: the dynamic loader loads a library once
// whatever it is called (a hard link, a symbolic link), so every name of
// it shares one login: a wrong PIN through another name is refused, and
// the right one works. A bare name, which the loader searches for, is
// refused outright.
func TestModuleAliasesShareTheLogin(t *testing.T) {
	t.Parallel()
	module, tokenLabel, pin := softhsmtest.NewToken(t, "alias")
	real, err := filepath.EvalSymlinks(module)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hard := filepath.Join(dir, "libhard.so")
	if err := os.Link(real, hard); err != nil {
		t.Fatalf("hard-link the module into the test directory (it must be on the module's file system): %v", err)
	}
	soft := filepath.Join(dir, "libsoft.so")
	if err := os.Symlink(real, soft); err != nil {
		t.Fatal(err)
	}
	first := mustOpen(t, module, tokenLabel, pin)
	for _, alias := range []string{hard, soft} {
		if tok, err := hsm.Open(alias, tokenLabel, "wrong-"+pin); !errors.Is(err, hsm.ErrPINIncorrect) {
			if tok != nil {
				tok.Close()
			}
			t.Fatalf("Open(%s) with a wrong PIN while %s is logged in = %v, want ErrPINIncorrect", filepath.Base(alias), module, err)
		}
		tok := mustOpen(t, alias, tokenLabel, pin)
		if err := tok.Ping(); err != nil {
			t.Fatalf("Ping through %s: %v", filepath.Base(alias), err)
		}
	}
	if err := first.Ping(); err != nil {
		t.Fatal(err)
	}

	_, err = hsm.Open(filepath.Base(real), tokenLabel, pin)
	if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), "absolute path") {
		t.Fatalf("Open with a bare library name = %v, want ErrModule asking for an absolute path", err)
	}
}

// TestLoginByAnotherHandleIsRefused: when something else in the process
// (another PKCS#11 handle on the same library) has logged in to the token,
// C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever the PIN; Open then
// cannot check the PIN and refuses it. Not parallel: it initialises and
// finalises the library itself.
func TestLoginByAnotherHandleIsRefused(t *testing.T) {
	module, tokenLabel, pin := softhsmtest.NewToken(t, "foreign-login")
	p := pkcs11.New(module)
	if p == nil {
		t.Fatalf("load %s", module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		t.Fatalf("C_Initialize: %v", err)
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	var sh pkcs11.SessionHandle
	found := false
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Label == tokenLabel {
			if sh, err = p.OpenSession(s, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("token %q not found", tokenLabel)
	}
	defer p.CloseSession(sh)
	if err := p.Login(sh, pkcs11.CKU_USER, pin); err != nil {
		t.Fatalf("C_Login: %v", err)
	}
	defer p.Logout(sh)

	tok, err := hsm.Open(module, tokenLabel, "wrong-"+pin)
	if err == nil {
		tok.Close()
	}
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "already logged in") {
		t.Fatalf("Open with a wrong PIN while another handle is logged in = %v, want ErrPINIncorrect saying so", err)
	}
}
