//go:build cgo

package hsm

import "github.com/miekg/pkcs11"

// KeyAttributes reads attributes of the key labelled label straight from the
// token, so tests can check what the token itself says about the key.
func (t *Token) KeyAttributes(label string, types ...uint) ([]*pkcs11.Attribute, error) {
	var attrs []*pkcs11.Attribute
	err := t.withKey(label, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
		tmpl := make([]*pkcs11.Attribute, len(types))
		for i, ty := range types {
			tmpl[i] = pkcs11.NewAttribute(ty, nil)
		}
		var err error
		attrs, err = t.mod.ctx.GetAttributeValue(sh, h, tmpl)
		return err
	})
	return attrs, err
}

// PlantKey makes a secret key labelled label as someone else with access to
// the token could, with keyTemplate's attributes changed by override.
func (t *Token) PlantKey(label string, override ...*pkcs11.Attribute) error {
	tmpl := keyTemplate(label)
	for _, o := range override {
		for i, a := range tmpl {
			if a.Type == o.Type {
				tmpl[i] = o
			}
		}
	}
	return t.do(func(sh pkcs11.SessionHandle) error {
		_, err := t.mod.ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl)
		return err
	})
}
