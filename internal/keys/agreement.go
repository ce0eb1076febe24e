package keys

import (
	"crypto/ecdsa"
	"crypto/x509"

	"github.com/emmansun/gmsm/sm2"

	"github.com/kmsd/kmsd/internal/secret"
)

// DeriveSharedSecret runs ECDH between the key (ECC_NIST_P256|P384|P521, SM2)
// and a peer public key given as DER SubjectPublicKeyInfo, and returns the
// raw shared secret (the x-coordinate of the shared point), as AWS's
// DeriveSharedSecret does for KeyAgreementAlgorithm ECDH. A malformed peer
// key, one that is not on a NIST curve, or one on another curve than the
// key gives ErrInvalidPublicKey.
func (k *AsymmetricKey) DeriveSharedSecret(peerSPKIDER []byte) (secret.Bytes, error) {
	if k.sm2 != nil {
		return k.deriveSM2(peerSPKIDER)
	}
	if k.ec == nil {
		return nil, ErrUnsupportedOperation
	}
	pub, err := x509.ParsePKIXPublicKey(peerSPKIDER)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	peer, ok := pub.(*ecdsa.PublicKey)
	if !ok || peer.Curve != k.ec.Curve {
		return nil, ErrInvalidPublicKey
	}
	peerECDH, err := peer.ECDH()
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	priv, err := k.ec.ECDH()
	if err != nil {
		return nil, ErrUnsupportedOperation
	}
	shared, err := priv.ECDH(peerECDH)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	return secret.Bytes(shared), nil
}

// deriveSM2 is ECDH on the SM2 curve: the x-coordinate of the shared point,
// like the NIST curves (not the SM2 key exchange protocol, which AWS's
// DeriveSharedSecret does not run).
func (k *AsymmetricKey) deriveSM2(peerSPKIDER []byte) (secret.Bytes, error) {
	peer, err := parseSM2PKIX(peerSPKIDER)
	if err != nil {
		return nil, err
	}
	peerECDH, err := sm2.PublicKeyToECDH(peer)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	priv, err := k.sm2.ECDH()
	if err != nil {
		return nil, ErrUnsupportedOperation
	}
	shared, err := priv.ECDH(peerECDH)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	return secret.Bytes(shared), nil
}
