//go:build cgo

package hsm

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

const sessionFlags = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION

// maxSessions bounds the sessions one Token opens; callers beyond it wait.
// Network HSMs (CloudHSM) limit sessions per client, so this stays modest.
const maxSessions = 16

// Token is a logged-in connection to one PKCS#11 token. It is safe for
// concurrent use: each operation borrows a session from a pool.
type Token struct {
	mod   *module
	slot  uint
	label string

	life   sync.RWMutex // operations hold it shared, Close exclusively
	closed bool

	// anchor is the session that logged in. It stays open until Close
	// because closing a process's last session on a token logs it out.
	anchorMu sync.Mutex
	anchor   pkcs11.SessionHandle

	pool pool

	keysMu  sync.Mutex
	handles map[string]pkcs11.ObjectHandle // key label -> cached handle
	genMu   sync.Mutex                     // makes GenerateKey's check-then-create atomic in-process
}

// Open loads module (the path of a PKCS#11 library), finds the token whose
// label is tokenLabel and logs in to it as CKU_USER with pin.
func Open(module, tokenLabel, pin string) (*Token, error) {
	m, err := modules.acquire(module)
	if err != nil {
		return nil, err
	}
	t, err := open(m, strings.TrimRight(tokenLabel, " "), pin)
	if err != nil {
		_ = modules.release(m)
		return nil, err
	}
	return t, nil
}

func open(m *module, label, pin string) (*Token, error) {
	slot, err := m.findSlot(label)
	if err != nil {
		return nil, err
	}
	anchor, err := m.openSession(slot)
	if err != nil {
		return nil, err
	}
	if err := modules.login(m, slot, anchor, pin); err != nil {
		_ = m.ctx.CloseSession(anchor)
		return nil, err
	}
	return &Token{
		mod:     m,
		slot:    slot,
		label:   label,
		anchor:  anchor,
		pool:    pool{mod: m, slot: slot, slots: make(chan struct{}, maxSessions)},
		handles: map[string]pkcs11.ObjectHandle{},
	}, nil
}

// Close waits for operations in flight, closes the Token's sessions, logs out
// if no other Token of the process uses this token, and finalises the module
// if no other Token uses it. Operations after Close return ErrClosed.
func (t *Token) Close() error {
	t.life.Lock()
	defer t.life.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	errs := []error{t.pool.close()}
	t.anchorMu.Lock()
	errs = append(errs, modules.logout(t.mod, t.slot, t.anchor), wrap("C_CloseSession", t.mod.ctx.CloseSession(t.anchor)))
	t.anchorMu.Unlock()
	errs = append(errs, modules.release(t.mod))
	return errors.Join(errs...)
}

// Ping checks that the token is still there and that the process is still
// logged in to it, through the state of the session that logged in (a token
// removed or reset invalidates its sessions). It does not call
// C_GetTokenInfo: SoftHSM2 then re-reads the token's object list from disk
// and can catch an object another process is halfway through writing, which
// then stays invisible to this process until the module is finalised.
func (t *Token) Ping() error {
	t.life.RLock()
	defer t.life.RUnlock()
	if t.closed {
		return ErrClosed
	}
	t.anchorMu.Lock()
	info, err := t.mod.ctx.GetSessionInfo(t.anchor)
	t.anchorMu.Unlock()
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)) || errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_CLOSED)) {
		return fmt.Errorf("%w: token %q closed the session that logged in: %w", ErrTokenNotFound, t.label, err)
	}
	if err != nil {
		return wrap("C_GetSessionInfo", err)
	}
	if info.State != pkcs11.CKS_RW_USER_FUNCTIONS && info.State != pkcs11.CKS_RO_USER_FUNCTIONS {
		return fmt.Errorf("%w: token %q: session state %d", ErrNotLoggedIn, t.label, info.State)
	}
	return nil
}

// do runs fn with a session borrowed from the pool.
func (t *Token) do(fn func(pkcs11.SessionHandle) error) error {
	t.life.RLock()
	defer t.life.RUnlock()
	if t.closed {
		return ErrClosed
	}
	sh, err := t.pool.get()
	if err != nil {
		return err
	}
	err = fn(sh)
	t.pool.put(sh, err)
	return err
}

// pool holds the Token's idle sessions. A slot in slots is taken for every
// session that exists, idle or in use, which bounds them to maxSessions.
type pool struct {
	mod   *module
	slot  uint
	slots chan struct{}

	mu   sync.Mutex
	idle []pkcs11.SessionHandle
}

func (p *pool) get() (pkcs11.SessionHandle, error) {
	p.slots <- struct{}{}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		sh := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return sh, nil
	}
	p.mu.Unlock()
	sh, err := p.mod.openSession(p.slot)
	if err != nil {
		<-p.slots
		return 0, err
	}
	return sh, nil
}

// put returns sh to the pool, or closes it if err says it is unusable.
func (p *pool) put(sh pkcs11.SessionHandle, err error) {
	if sessionBroken(err) {
		_ = p.mod.ctx.CloseSession(sh)
	} else {
		p.mu.Lock()
		p.idle = append(p.idle, sh)
		p.mu.Unlock()
	}
	<-p.slots
}

func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, sh := range p.idle {
		errs = append(errs, wrap("C_CloseSession", p.mod.ctx.CloseSession(sh)))
	}
	p.idle = nil
	return errors.Join(errs...)
}
