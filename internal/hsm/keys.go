//go:build cgo

package hsm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// keyTemplate is a 256-bit AES key that lives in the token, is usable only
// by a logged-in user, can never be read out or wrapped, and serves only to
// encrypt and decrypt.
func keyTemplate(label string) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
	}
}

func checkLabel(label string) error {
	if label == "" {
		return errors.New("hsm: empty key label")
	}
	return nil
}

// GenerateKey makes a 256-bit AES key labelled label inside the token
// (CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_ENCRYPT and
// CKA_DECRYPT). A key with that label already in the token is ErrKeyExists.
// Within one Token the check and the creation are atomic; two processes
// racing on one label can still both succeed, after which the label is
// ambiguous and every use of it fails.
func (t *Token) GenerateKey(label string) error {
	if err := checkLabel(label); err != nil {
		return err
	}
	t.genMu.Lock()
	defer t.genMu.Unlock()
	return t.do(func(sh pkcs11.SessionHandle) error {
		found, err := t.find(sh, label)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return fmt.Errorf("%w: %q", ErrKeyExists, label)
		}
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
		h, err := t.mod.ctx.GenerateKey(sh, mech, keyTemplate(label))
		if err != nil {
			return wrap("C_GenerateKey", err)
		}
		t.remember(label, h)
		return nil
	})
}

// HasKey reports whether the token holds a secret key labelled label.
func (t *Token) HasKey(label string) (bool, error) {
	var has bool
	err := t.do(func(sh pkcs11.SessionHandle) error {
		found, err := t.find(sh, label)
		if err != nil || len(found) == 0 {
			return err
		}
		has = true
		if len(found) == 1 {
			return t.checkKey(sh, found[0], label, nil)
		}
		return nil
	})
	return has, err
}

// DeleteKey destroys every secret key labelled label; none is ErrKeyNotFound.
func (t *Token) DeleteKey(label string) error {
	return t.do(func(sh pkcs11.SessionHandle) error {
		found, err := t.find(sh, label)
		if err != nil {
			return err
		}
		t.forget(label)
		if len(found) == 0 {
			return fmt.Errorf("%w: %q", ErrKeyNotFound, label)
		}
		for _, h := range found {
			if err := t.mod.ctx.DestroyObject(sh, h); err != nil {
				return wrap("C_DestroyObject", err)
			}
		}
		return nil
	})
}

// find returns the handles of the secret keys labelled label (at most two:
// enough to tell one from several).
func (t *Token) find(sh pkcs11.SessionHandle, label string) ([]pkcs11.ObjectHandle, error) {
	ctx := t.mod.ctx
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, wrap("C_FindObjectsInit", err)
	}
	found, _, err := ctx.FindObjects(sh, 2)
	ferr := ctx.FindObjectsFinal(sh) // always, or the session stays in a search
	if err != nil {
		return nil, wrap("C_FindObjects", err)
	}
	if ferr != nil {
		return nil, wrap("C_FindObjectsFinal", ferr)
	}
	return found, nil
}

// keyHandle returns the handle of the one key labelled label. A cached
// handle is checked first with a cheap C_GetAttributeValue of CKA_LABEL: the
// key may have been destroyed behind this Token's back, and some tokens reuse
// handles, so a stale handle could name another key, and encrypting under it
// would make data no one can decrypt under label.
func (t *Token) keyHandle(sh pkcs11.SessionHandle, label string) (pkcs11.ObjectHandle, error) {
	t.keysMu.Lock()
	h, ok := t.handles[label]
	t.keysMu.Unlock()
	if ok {
		var gotLabel []byte
		err := t.checkKey(sh, h, label, &gotLabel)
		same := string(gotLabel) == label
		switch {
		case err == nil && same:
			return h, nil
		case errors.Is(err, ErrKeyUnfit) && same:
			return 0, err
		case err != nil && !errors.Is(err, ErrKeyUnfit) && !handleStale(err):
			return 0, err
		}
		t.forget(label) // destroyed, or the handle now names another key
	}
	found, err := t.find(sh, label)
	if err != nil {
		return 0, err
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: %q", ErrKeyNotFound, label)
	case 1:
		if err := t.checkKey(sh, found[0], label, nil); err != nil {
			return 0, err
		}
		t.remember(label, found[0])
		return found[0], nil
	}
	return 0, fmt.Errorf("hsm: several keys labelled %q in the token; key labels must be unique", label)
}

// keyRequirements are the attributes of a key this package makes (see
// keyTemplate) that make it safe to wrap secrets under: a key of that label
// planted in the token with other attributes, an extractable one above
// all, is refused rather than used.
var keyRequirements = []struct {
	attr uint
	name string
	want []byte
}{
	{pkcs11.CKA_CLASS, "CKA_CLASS (want CKO_SECRET_KEY)", pkcs11.NewAttribute(0, pkcs11.CKO_SECRET_KEY).Value},
	{pkcs11.CKA_KEY_TYPE, "CKA_KEY_TYPE (want CKK_AES)", pkcs11.NewAttribute(0, pkcs11.CKK_AES).Value},
	{pkcs11.CKA_VALUE_LEN, "CKA_VALUE_LEN (want 32)", pkcs11.NewAttribute(0, 32).Value},
	{pkcs11.CKA_SENSITIVE, "CKA_SENSITIVE (want true)", pkcs11.NewAttribute(0, true).Value},
	{pkcs11.CKA_EXTRACTABLE, "CKA_EXTRACTABLE (want false)", pkcs11.NewAttribute(0, false).Value},
}

// checkKey reads the attributes of key h in one call and fails, naming
// label and the first attribute that differs, unless they are
// keyRequirements'. With gotLabel non-nil it also reads CKA_LABEL into it,
// so a cached handle is checked in the same round trip.
func (t *Token) checkKey(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, label string, gotLabel *[]byte) error {
	tmpl := make([]*pkcs11.Attribute, 0, len(keyRequirements)+1)
	for _, r := range keyRequirements {
		tmpl = append(tmpl, pkcs11.NewAttribute(r.attr, nil))
	}
	if gotLabel != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil))
	}
	attrs, err := t.mod.ctx.GetAttributeValue(sh, h, tmpl)
	if err != nil {
		return wrap("C_GetAttributeValue", err)
	}
	if len(attrs) != len(tmpl) {
		return fmt.Errorf("%w: key %q: the token answered %d of %d attributes", ErrKeyUnfit, label, len(attrs), len(tmpl))
	}
	if gotLabel != nil {
		*gotLabel = attrs[len(keyRequirements)].Value
	}
	for i, r := range keyRequirements {
		if attrs[i].Type != r.attr || !bytes.Equal(attrs[i].Value, r.want) {
			return fmt.Errorf("%w: key %q in the token fails %s; kmsd wraps secrets only under a non-extractable, sensitive AES-256 key", ErrKeyUnfit, label, r.name)
		}
	}
	return nil
}

// withKey runs fn with a session and the handle of the key labelled label.
func (t *Token) withKey(label string, fn func(pkcs11.SessionHandle, pkcs11.ObjectHandle) error) error {
	return t.do(func(sh pkcs11.SessionHandle) error {
		h, err := t.keyHandle(sh, label)
		if err != nil {
			return err
		}
		err = fn(sh, h)
		if errors.Is(err, ErrKeyNotFound) {
			t.forget(label) // destroyed between the check and the use
		}
		return err
	})
}

func (t *Token) remember(label string, h pkcs11.ObjectHandle) {
	t.keysMu.Lock()
	t.handles[label] = h
	t.keysMu.Unlock()
}

func (t *Token) forget(label string) {
	t.keysMu.Lock()
	delete(t.handles, label)
	t.keysMu.Unlock()
}
