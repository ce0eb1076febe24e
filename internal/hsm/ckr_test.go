//go:build cgo

package hsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestWrapMapsReturnValues(t *testing.T) {
	cases := []struct {
		rv   uint
		want error
		name string
	}{
		{pkcs11.CKR_PIN_INCORRECT, ErrPINIncorrect, "CKR_PIN_INCORRECT"},
		{pkcs11.CKR_PIN_LEN_RANGE, ErrPINIncorrect, "CKR_PIN_LEN_RANGE"},
		{pkcs11.CKR_PIN_LOCKED, ErrPINLocked, "CKR_PIN_LOCKED"},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, ErrTokenNotFound, "CKR_TOKEN_NOT_PRESENT"},
		{pkcs11.CKR_DEVICE_REMOVED, ErrTokenNotFound, "CKR_DEVICE_REMOVED"},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, ErrNotLoggedIn, "CKR_USER_NOT_LOGGED_IN"},
		{pkcs11.CKR_OBJECT_HANDLE_INVALID, ErrKeyNotFound, "CKR_OBJECT_HANDLE_INVALID"},
		{pkcs11.CKR_KEY_HANDLE_INVALID, ErrKeyNotFound, "CKR_KEY_HANDLE_INVALID"},
		{pkcs11.CKR_ENCRYPTED_DATA_INVALID, ErrDecrypt, "CKR_ENCRYPTED_DATA_INVALID"},
		{pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE, ErrDecrypt, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
		{ckrAEADDecryptFailed, ErrDecrypt, "CKR_AEAD_DECRYPT_FAILED"},
		{pkcs11.CKR_GENERAL_ERROR, nil, "CKR_GENERAL_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := wrap("C_Something", pkcs11.Error(c.rv))
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("wrap(%s) = %v, want errors.Is %v", c.name, err, c.want)
			}
			if !errors.Is(err, pkcs11.Error(c.rv)) {
				t.Fatalf("wrap(%s) = %v lost the return value", c.name, err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.name) || !strings.Contains(msg, "C_Something") {
				t.Fatalf("wrap(%s) = %q, want the function and CKR_ name in it", c.name, msg)
			}
		})
	}
	if wrap("C_X", nil) != nil {
		t.Fatal("wrap(nil) must be nil")
	}
}
