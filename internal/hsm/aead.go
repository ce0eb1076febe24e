//go:build cgo

package hsm

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

const (
	ivSize  = 12
	tagSize = 16
)

// Encrypt seals plaintext with AES-256-GCM inside the token under the key
// labelled label, binding aad, and returns iv | ciphertext | 16-byte tag.
//
// The 12-byte IV is fresh from crypto/rand for every call: SoftHSM2 (2.6)
// uses the IV it is given and has no IV generator for C_Encrypt. Tokens that
// insist on their own IV (AWS CloudHSM writes it over the one passed in) are
// honoured: the IV returned is the one the token reports it used.
func (t *Token) Encrypt(label string, plaintext, aad []byte) ([]byte, error) {
	var sealed []byte
	err := t.withKey(label, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		iv := make([]byte, ivSize)
		if _, err := rand.Read(iv); err != nil {
			return fmt.Errorf("hsm: random IV: %w", err)
		}
		params := pkcs11.NewGCMParams(iv, aad, tagSize*8)
		defer params.Free()
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
		if err := t.mod.ctx.EncryptInit(sh, mech, h); err != nil {
			return wrap("C_EncryptInit", err)
		}
		ct, err := t.mod.ctx.Encrypt(sh, plaintext)
		if err != nil {
			return wrap("C_Encrypt", err)
		}
		used := params.IV()
		if len(used) != ivSize || len(ct) != len(plaintext)+tagSize {
			return fmt.Errorf("hsm: token returned a %d-byte IV and %d bytes of ciphertext for %d bytes of plaintext", len(used), len(ct), len(plaintext))
		}
		sealed = make([]byte, 0, ivSize+len(ct))
		sealed = append(append(sealed, used...), ct...)
		return nil
	})
	return sealed, err
}

// Decrypt opens what Encrypt sealed under label with the same aad. Data that
// is too short, altered, bound to other AAD or sealed under another key is
// ErrDecrypt.
func (t *Token) Decrypt(label string, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < ivSize+tagSize {
		return nil, fmt.Errorf("%w: sealed data is %d bytes, shorter than IV and tag", ErrDecrypt, len(sealed))
	}
	var plaintext []byte
	err := t.withKey(label, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		params := pkcs11.NewGCMParams(sealed[:ivSize], aad, tagSize*8)
		defer params.Free()
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
		if err := t.mod.ctx.DecryptInit(sh, mech, h); err != nil {
			return wrap("C_DecryptInit", err)
		}
		pt, err := t.mod.ctx.Decrypt(sh, sealed[ivSize:])
		if errors.Is(err, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)) {
			// SoftHSM2 reports a GCM tag mismatch as CKR_GENERAL_ERROR from
			// C_Decrypt (the key and parameters passed C_DecryptInit).
			return fmt.Errorf("%w: C_Decrypt: %w", ErrDecrypt, err)
		}
		if err != nil {
			return wrap("C_Decrypt", err)
		}
		plaintext = pt
		return nil
	})
	return plaintext, err
}
