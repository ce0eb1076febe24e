package keys

import (
	"crypto/ecdsa"
	"crypto/rand"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// SM2 keys (GB/T 32918), which AWS offers in its China Regions: SM2DSA
// signatures with SM3, SM2PKE encryption, and ECDH on the SM2 curve.

// sm2MaxPlaintext is the largest plaintext AWS accepts for SM2PKE.
const sm2MaxPlaintext = 1024

// sm2DefaultID is the distinguishing identifier of GB/T 32918.2 that AWS
// uses for SM2DSA.
var sm2DefaultID = []byte("1234567812345678")

func parseSM2PKCS8(der []byte) (*sm2.PrivateKey, error) {
	priv, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, ErrInvalidPrivateKey
	}
	p, ok := priv.(*sm2.PrivateKey)
	if !ok {
		return nil, ErrInvalidPrivateKey
	}
	return p, nil
}

func parseSM2PKIX(der []byte) (*ecdsa.PublicKey, error) {
	pub, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	p, ok := pub.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(p) {
		return nil, ErrInvalidPublicKey
	}
	return p, nil
}

// sm2Digest returns the value e that SM2DSA signs. For RAW it is
// SM3(Z_A || M), with Z_A computed from the public key and the default
// distinguishing identifier 1234567812345678, as AWS's offline-verification
// guide and openssl use. For DIGEST the caller has computed it.
func sm2Digest(pub *ecdsa.PublicKey, messageType string, msg []byte) ([]byte, error) {
	if messageType == MessageDigest {
		return msg, nil
	}
	za, err := sm2.CalculateZA(pub, sm2DefaultID)
	if err != nil {
		return nil, err
	}
	h := sm3.New()
	h.Write(za)
	h.Write(msg)
	return h.Sum(nil), nil
}

// sm2Encrypt encrypts with SM2PKE, writing the ciphertext as the ASN.1
// structure of GM/T 0009 (C1, C3, C2), which openssl also reads and writes.
func sm2Encrypt(pub *ecdsa.PublicKey, plaintext []byte) ([]byte, error) {
	if len(plaintext) > sm2MaxPlaintext {
		return nil, ErrPlaintextTooLarge
	}
	return sm2.EncryptASN1(rand.Reader, pub, plaintext)
}

func sm2Decrypt(priv *sm2.PrivateKey, ciphertext []byte) ([]byte, error) {
	pt, err := priv.Decrypt(nil, ciphertext, sm2.ASN1DecrypterOpts)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}
