package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // register SHA-256 for crypto.Hash.New
	"crypto/sha512"

	"filippo.io/mldsa"
	"filippo.io/mldsa/mldsacrypto"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secp256k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

type sigScheme int

const (
	schemePSS sigScheme = iota + 1
	schemePKCS1
	schemeECDSA
	schemeEd25519
	schemeEd25519ph
	schemeMLDSA
	schemeSM2
)

// signingAlgorithm resolves an AWS SigningAlgorithm for keySpec. The pair
// must be one AWS allows: RSA algorithms with RSA keys, ECDSA with the
// hash that belongs to the curve, Ed25519 algorithms with Ed25519 keys.
func signingAlgorithm(keySpec, alg string) (sigScheme, crypto.Hash, error) {
	var s sigScheme
	var h crypto.Hash
	switch alg {
	case "RSASSA_PSS_SHA_256":
		s, h = schemePSS, crypto.SHA256
	case "RSASSA_PSS_SHA_384":
		s, h = schemePSS, crypto.SHA384
	case "RSASSA_PSS_SHA_512":
		s, h = schemePSS, crypto.SHA512
	case "RSASSA_PKCS1_V1_5_SHA_256":
		s, h = schemePKCS1, crypto.SHA256
	case "RSASSA_PKCS1_V1_5_SHA_384":
		s, h = schemePKCS1, crypto.SHA384
	case "RSASSA_PKCS1_V1_5_SHA_512":
		s, h = schemePKCS1, crypto.SHA512
	case "ECDSA_SHA_256":
		s, h = schemeECDSA, crypto.SHA256
	case "ECDSA_SHA_384":
		s, h = schemeECDSA, crypto.SHA384
	case "ECDSA_SHA_512":
		s, h = schemeECDSA, crypto.SHA512
	case "ED25519_SHA_512":
		s, h = schemeEd25519, crypto.SHA512
	case "ED25519_PH_SHA_512":
		s, h = schemeEd25519ph, crypto.SHA512
	case "ML_DSA_SHAKE_256":
		s = schemeMLDSA
	case "SM2DSA":
		s = schemeSM2
	default:
		return 0, 0, ErrUnsupportedAlgorithm
	}
	ok := false
	switch s {
	case schemePSS, schemePKCS1:
		ok = rsaBits(keySpec) != 0
	case schemeECDSA:
		ok = (keySpec == "ECC_NIST_P256" || keySpec == "ECC_SECG_P256K1") && h == crypto.SHA256 ||
			keySpec == "ECC_NIST_P384" && h == crypto.SHA384 ||
			keySpec == "ECC_NIST_P521" && h == crypto.SHA512
	case schemeEd25519, schemeEd25519ph:
		ok = keySpec == "ECC_NIST_EDWARDS25519"
	case schemeMLDSA:
		ok = mldsaParams(keySpec) != nil
	case schemeSM2:
		ok = keySpec == "SM2"
	}
	if !ok {
		return 0, 0, ErrUnsupportedAlgorithm
	}
	return s, h, nil
}

// signingInput checks the MessageType rules and returns what the scheme
// signs: the digest of msg (RAW) or msg itself (DIGEST, whose length must
// be the hash size). Ed25519 signs a RAW message as is, and Ed25519ph takes
// only a DIGEST, a 64-byte SHA-512 digest, which it prehashes once more. ML-DSA signs a RAW
// message as is (the scheme hashes it with the public key) or takes a
// 64-byte EXTERNAL_MU. SM2DSA's input is resolved by sm2Digest, which
// needs the public key.
func signingInput(s sigScheme, h crypto.Hash, messageType string, msg []byte) ([]byte, error) {
	switch messageType {
	case MessageRaw, MessageDigest:
	case MessageExternalMu:
		if s != schemeMLDSA {
			return nil, ErrMessageType
		}
		if len(msg) != mldsaMuSize {
			return nil, ErrDigestLength
		}
		return msg, nil
	default:
		return nil, ErrMessageType
	}
	switch s {
	case schemeMLDSA:
		if messageType != MessageRaw {
			return nil, ErrMessageType
		}
		return msg, nil
	case schemeSM2:
		if messageType == MessageDigest && len(msg) != sm3.Size {
			return nil, ErrDigestLength
		}
		return msg, nil
	case schemeEd25519:
		if messageType != MessageRaw {
			return nil, ErrMessageType
		}
		return msg, nil
	case schemeEd25519ph:
		if messageType != MessageDigest {
			return nil, ErrMessageType
		}
		if len(msg) != sha512.Size {
			return nil, ErrDigestLength
		}
		// AWS applies HashEdDSA's own prehash (FIPS 186-5 §7.8.1 step 1)
		// to the caller's digest, so the input is hashed twice: the
		// signature is Ed25519ph over the message msg.
		d := sha512.Sum512(msg)
		return d[:], nil
	}
	if messageType == MessageDigest {
		if len(msg) != h.Size() {
			return nil, ErrDigestLength
		}
		return msg, nil
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil), nil
}

func pssOptions(h crypto.Hash) *rsa.PSSOptions {
	// AWS uses a salt as long as the hash, and so does the verifier.
	return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
}

// Sign signs msg with a SigningAlgorithm. messageType is RAW (msg is the
// message; it is hashed here), DIGEST (msg is the precomputed digest and
// must be exactly the hash size, else ErrDigestLength) or, for ML-DSA,
// EXTERNAL_MU (the 64-byte mu of FIPS 204). ECDSA and SM2DSA signatures
// are DER-encoded; Ed25519 and ML-DSA signatures are raw bytes.
func (k *AsymmetricKey) Sign(alg, messageType string, msg []byte) ([]byte, error) {
	s, h, err := signingAlgorithm(k.spec, alg)
	if err != nil {
		return nil, err
	}
	in, err := signingInput(s, h, messageType, msg)
	if err != nil {
		return nil, err
	}
	var sig []byte
	switch s {
	case schemePSS:
		sig, err = rsa.SignPSS(rand.Reader, k.rsa, h, in, pssOptions(h))
	case schemePKCS1:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, h, in)
	case schemeECDSA:
		if k.k1 != nil {
			sig = secp256k1ecdsa.Sign(k.k1, in).Serialize()
		} else {
			sig, err = ecdsa.SignASN1(rand.Reader, k.ec, in)
		}
	case schemeEd25519:
		sig = ed25519.Sign(k.ed, in)
	case schemeEd25519ph:
		sig, err = k.ed.Sign(nil, in, &ed25519.Options{Hash: crypto.SHA512})
	case schemeMLDSA:
		var opts crypto.SignerOpts
		if messageType == MessageExternalMu {
			opts = mldsacrypto.MLDSAMu
		}
		sig, err = k.mldsa.Sign(nil, in, opts)
	case schemeSM2:
		var e []byte
		if e, err = sm2Digest(&k.sm2.PublicKey, messageType, in); err == nil {
			sig, err = sm2.SignASN1(rand.Reader, k.sm2, e, nil)
		}
	}
	if err != nil {
		// The signing errors of these libraries name no key material.
		return nil, err
	}
	return sig, nil
}

// Verify checks sig over msg with the key's public half. It returns nil for
// a valid signature, ErrInvalidSignature for an invalid one, and the same
// input errors as Sign (ErrUnsupportedAlgorithm, ErrMessageType,
// ErrDigestLength) before looking at the signature.
func (k *AsymmetricKey) Verify(alg, messageType string, msg, sig []byte) error {
	return k.pub.verify(alg, messageType, msg, sig)
}

// publicKey is the public half of an AsymmetricKey. Verification runs on it
// alone, so the same code checks kmsd's signatures and published test
// vectors that come with a public key only.
type publicKey struct {
	spec  string
	rsa   *rsa.PublicKey
	ec    *ecdsa.PublicKey
	k1    *secp256k1.PublicKey
	ed    ed25519.PublicKey
	mldsa *mldsa.PublicKey
	sm2   *ecdsa.PublicKey
}

func (p *publicKey) verify(alg, messageType string, msg, sig []byte) error {
	s, h, err := signingAlgorithm(p.spec, alg)
	if err != nil {
		return err
	}
	in, err := signingInput(s, h, messageType, msg)
	if err != nil {
		return err
	}
	switch s {
	case schemePSS:
		err = rsa.VerifyPSS(p.rsa, h, in, sig, pssOptions(h))
	case schemePKCS1:
		err = rsa.VerifyPKCS1v15(p.rsa, h, in, sig)
	case schemeECDSA:
		var ok bool
		if p.k1 != nil {
			ok = verifySecp256k1(p.k1, in, sig)
		} else {
			ok = ecdsa.VerifyASN1(p.ec, in, sig)
		}
		if !ok {
			err = ErrInvalidSignature
		}
	case schemeEd25519:
		if !ed25519.Verify(p.ed, in, sig) {
			err = ErrInvalidSignature
		}
	case schemeEd25519ph:
		err = ed25519.VerifyWithOptions(p.ed, in, sig, &ed25519.Options{Hash: crypto.SHA512})
	case schemeMLDSA:
		if messageType == MessageExternalMu {
			err = verifyMLDSAExternalMu(p.mldsa, in, sig)
		} else {
			err = mldsa.Verify(p.mldsa, in, sig, nil)
		}
	case schemeSM2:
		var e []byte
		if e, err = sm2Digest(p.sm2, messageType, in); err == nil && !sm2.VerifyASN1(p.sm2, e, sig) {
			err = ErrInvalidSignature
		}
	}
	if err != nil {
		return ErrInvalidSignature
	}
	return nil
}
