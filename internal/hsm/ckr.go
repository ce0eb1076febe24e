//go:build cgo

package hsm

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// ckrAEADDecryptFailed is PKCS#11 3.0's CKR_AEAD_DECRYPT_FAILED, which the
// binding's 2.40 headers do not name.
const ckrAEADDecryptFailed = 0x35

// sentinelFor maps a CKR_ return value to the sentinel callers test for, or nil.
func sentinelFor(rv pkcs11.Error) error {
	switch rv {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return ErrPINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		return ErrPINLocked
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_SLOT_ID_INVALID:
		return ErrTokenNotFound
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return ErrNotLoggedIn
	case pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID:
		return ErrKeyNotFound
	case pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		ckrAEADDecryptFailed:
		return ErrDecrypt
	}
	return nil
}

// wrap names the PKCS#11 function that failed and, where one applies, puts
// the sentinel first so errors.Is finds it. The binding's error text is
// "pkcs11: 0x000000A0: CKR_PIN_INCORRECT": it never includes arguments, so
// no PIN can reach the message.
func wrap(fn string, err error) error {
	if err == nil {
		return nil
	}
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return fmt.Errorf("hsm: %s: %w", fn, err)
	}
	if rv == ckrAEADDecryptFailed {
		fn += ": CKR_AEAD_DECRYPT_FAILED"
	}
	if s := sentinelFor(rv); s != nil {
		return fmt.Errorf("%w: %s: %w", s, fn, err)
	}
	return fmt.Errorf("hsm: %s: %w", fn, err)
}

// sessionBroken reports whether err means the session cannot be reused and
// must be closed rather than returned to the pool.
func sessionBroken(err error) bool {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return false
	}
	switch rv {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_OPERATION_ACTIVE, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// handleStale reports whether err means a cached object handle no longer
// names an object (the key was destroyed, perhaps by another process).
func handleStale(err error) bool {
	var rv pkcs11.Error
	return errors.As(err, &rv) && (rv == pkcs11.CKR_OBJECT_HANDLE_INVALID || rv == pkcs11.CKR_KEY_HANDLE_INVALID)
}
