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
