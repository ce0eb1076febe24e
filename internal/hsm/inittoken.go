//go:build cgo

package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// InitToken initialises the first uninitialised token of module: it gives it
// label and soPIN (C_InitToken), then sets the user PIN (C_InitPIN). It is
// for software tokens such as SoftHSM2, which always offer one free token;
// hardware HSMs (CloudHSM) are provisioned with their own tools and answer
// CKR_FUNCTION_NOT_SUPPORTED.
//
// A token made this way is visible at once to Open in this process. (SoftHSM2
// enumerates tokens only at C_Initialize, so one made by softhsm2-util while
// the module is loaded stays invisible to the process until every Token on
// the module is closed.)
func InitToken(module, label, soPIN, pin string) (err error) {
	if label == "" || len(label) > 32 || label[len(label)-1] == ' ' {
		return fmt.Errorf("hsm: token label %q must be 1 to 32 bytes and not end in a space", label)
	}
	m, err := modules.acquire(module)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, modules.release(m)) }()
	m.slotsMu.Lock()
	defer m.slotsMu.Unlock()

	slot, err := m.freeSlot(label)
	if err != nil {
		return err
	}
	if err := m.ctx.InitToken(slot, soPIN, label); err != nil {
		return wrap("C_InitToken", err)
	}
	sh, err := m.ctx.OpenSession(slot, sessionFlags)
	if err != nil {
		return wrap("C_OpenSession", err)
	}
	defer func() { err = errors.Join(err, wrap("C_CloseSession", m.ctx.CloseSession(sh))) }()
	if err := m.ctx.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
		return wrap("C_Login", err)
	}
	defer func() { err = errors.Join(err, wrap("C_Logout", m.ctx.Logout(sh))) }()
	return wrap("C_InitPIN", m.ctx.InitPIN(sh, pin))
}

// freeSlot returns the first slot whose token is not initialised, after
// checking that no token has label already. The caller holds m.slotsMu.
func (m *module) freeSlot(label string) (uint, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, wrap("C_GetSlotList", err)
	}
	free, ok := uint(0), false
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		switch {
		case ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0:
			if !ok {
				free, ok = s, true
			}
		case ti.Label == label:
			return 0, fmt.Errorf("%w: %q in %s", ErrTokenExists, label, m.path)
		}
	}
	if !ok {
		return 0, fmt.Errorf("hsm: %s has no uninitialised token", m.path)
	}
	return free, nil
}
