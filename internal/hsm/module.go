//go:build cgo

package hsm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// modules holds every PKCS#11 library this process has loaded. It is the
// package's only state, and it is process-wide by nature: PKCS#11 allows a
// library one C_Initialize per process, and a login is shared by all of a
// process's sessions on a token, so two Tokens on one module must share both.
var modules = registry{}

// registry finds a module by the library file it loaded, not by the path
// it was given: the dynamic loader shares one copy, and so one login state,
// among all the names of a file (symbolic links, hard links), so they must
// share one module and its record of logins.
type registry struct {
	mu   sync.Mutex // guards mods and every module's refs, ownInit and logins
	mods []*module
}

// module is one loaded library. It stays loaded (dlopen'ed) for the life of
// the process; C_Finalize runs when its last user lets go, and the next
// acquire initialises it again (which also makes it enumerate its tokens
// afresh).
type module struct {
	path    string
	file    os.FileInfo // the library file, compared with os.SameFile
	ctx     *pkcs11.Ctx
	refs    int
	ownInit bool            // this package called C_Initialize, so it may Finalize
	logins  map[uint]*login // by slot
	// slotsMu works around SoftHSM2 (2.6), whose slot table is not
	// thread-safe: C_GetSlotList adds a fresh free token to it (two at once
	// abort the process on an assertion) and C_InitToken changes it, while
	// C_OpenSession reads it. Writers lock, readers share.
	slotsMu sync.RWMutex
}

// login records that the process is logged in to a slot, and with which
// PIN, so a second Open of that token cannot ride on the first one's login
// with another PIN. The PIN is kept only as an HMAC under a random key.
type login struct {
	refs   int
	macKey []byte
	pinMAC []byte
}

func newLogin(pin string) (*login, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("hsm: random: %w", err)
	}
	return &login{refs: 1, macKey: key, pinMAC: pinMAC(key, pin)}, nil
}

func pinMAC(key []byte, pin string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(pin))
	return h.Sum(nil)
}

func (l *login) matches(pin string) bool {
	return hmac.Equal(l.pinMAC, pinMAC(l.macKey, pin))
}

// acquire loads (once) and initialises (when no one holds it) the library at
// path and counts one more user.
func (r *registry) acquire(path string) (*module, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no module path given", ErrModule)
	}
	real, fi, err := libraryFile(path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var m *module
	for _, c := range r.mods {
		if os.SameFile(c.file, fi) {
			m = c
			break
		}
	}
	if m == nil {
		ctx := pkcs11.New(real)
		if ctx == nil {
			return nil, fmt.Errorf("%w: %s is not a loadable PKCS#11 library", ErrModule, path)
		}
		m = &module{path: real, file: fi, ctx: ctx, logins: map[uint]*login{}}
		r.mods = append(r.mods, m)
	}
	if m.refs == 0 {
		switch err := m.ctx.Initialize(); {
		case err == nil:
			m.ownInit = true
		case errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
			// Another component of the process initialised it; leave
			// finalising to that component.
			m.ownInit = false
		default:
			return nil, fmt.Errorf("%w: %s: C_Initialize: %w", ErrModule, path, err)
		}
	}
	m.refs++
	return m, nil
}

// libraryFile resolves path to the library file that loading it opens. It
// must be absolute: the dynamic loader searches for a bare name (or
// resolves a relative one) by rules of its own, so which file, and so
// which module and login state, a bare name means is not known here.
func libraryFile(path string) (string, os.FileInfo, error) {
	if !filepath.IsAbs(path) {
		return "", nil, fmt.Errorf("%w: %q: give the module's absolute path (e.g. /usr/lib/softhsm/libsofthsm2.so), not a name for the loader to search", ErrModule, path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrModule, path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrModule, path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("%w: %s is not a regular file", ErrModule, path)
	}
	return real, fi, nil
}

// release counts one user fewer and finalises the library after the last.
func (r *registry) release(m *module) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m.refs--
	if m.refs > 0 || !m.ownInit {
		return nil
	}
	m.ownInit = false
	clear(m.logins)
	return wrap("C_Finalize", m.ctx.Finalize())
}

// login logs the process in to slot as the user through session sh, or, if
// another Token already did, checks that pin is the PIN it used.
func (r *registry) login(m *module, slot uint, sh pkcs11.SessionHandle, pin string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := m.logins[slot]; l != nil {
		if !l.matches(pin) {
			return fmt.Errorf("%w: the token is already logged in with another PIN", ErrPINIncorrect)
		}
		l.refs++
		return nil
	}
	err := m.ctx.Login(sh, pkcs11.CKU_USER, pin)
	// CKR_USER_ALREADY_LOGGED_IN with no login recorded here: something
	// else in the process logged in to the token. The PIN was not checked,
	// so accepting it would let any PIN ride on that login.
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("%w: the token is already logged in by another handle of this process, so the PIN cannot be checked", ErrPINIncorrect)
	}
	if err != nil {
		return wrap("C_Login", err)
	}
	l, err := newLogin(pin)
	if err != nil {
		return err
	}
	m.logins[slot] = l
	return nil
}

// logout undoes one login; the last one logs the process out of the token.
func (r *registry) logout(m *module, slot uint, sh pkcs11.SessionHandle) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := m.logins[slot]
	if l == nil {
		return nil
	}
	if l.refs--; l.refs > 0 {
		return nil
	}
	delete(m.logins, slot)
	err := m.ctx.Logout(sh)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
		return nil
	}
	return wrap("C_Logout", err)
}

// openSession opens a read-write session on slot.
func (m *module) openSession(slot uint) (pkcs11.SessionHandle, error) {
	m.slotsMu.RLock()
	defer m.slotsMu.RUnlock()
	sh, err := m.ctx.OpenSession(slot, sessionFlags)
	return sh, wrap("C_OpenSession", err)
}

// findSlot returns the slot holding the initialised token labelled label.
func (m *module) findSlot(label string) (uint, error) {
	m.slotsMu.Lock()
	defer m.slotsMu.Unlock()
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, wrap("C_GetSlotList", err)
	}
	var found []uint
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			continue // removed since the list was taken
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 && ti.Label == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no token labelled %q in %s", ErrTokenNotFound, label, m.path)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("hsm: %d tokens labelled %q in %s; token labels must be unique", len(found), label, m.path)
}
