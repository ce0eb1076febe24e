package keys

import (
	"errors"
	"unsafe"

	"filippo.io/mldsa"
)

// mldsaMuSize is the size of the FIPS 204 message representative mu that
// MessageType EXTERNAL_MU carries.
const mldsaMuSize = 64

func mldsaParams(keySpec string) *mldsa.Parameters {
	var p mldsa.Parameters
	switch keySpec {
	case "ML_DSA_44":
		p = mldsa.MLDSA44()
	case "ML_DSA_65":
		p = mldsa.MLDSA65()
	case "ML_DSA_87":
		p = mldsa.MLDSA87()
	default:
		return nil
	}
	return &p
}

// filippo.io/mldsa signs from an external mu (FIPS 204 §6.2, RFC 9881) but
// exposes no verification from one; its FIPS 204 core does
// (VerifyExternalMu). The module version is pinned in go.mod, and
// TestMLDSAExternalMu checks this path against signatures over RAW
// messages, so a change of the core's signature or layout fails the tests.
//
//go:linkname mldsaVerifyExternalMu filippo.io/mldsa/internal/fips140/mldsa.VerifyExternalMu
func mldsaVerifyExternalMu(pub *mldsaCorePublicKey, mu, sig []byte) error

// mldsaCorePublicKey stands for the core's PublicKey type, which is the one
// field of mldsa.PublicKey: a *mldsa.PublicKey is a pointer to it.
type mldsaCorePublicKey struct{}

var errMLDSAMu = errors.New("keys: invalid ML-DSA external mu")

func verifyMLDSAExternalMu(pub *mldsa.PublicKey, mu, sig []byte) error {
	if len(mu) != mldsaMuSize {
		return errMLDSAMu
	}
	return mldsaVerifyExternalMu((*mldsaCorePublicKey)(unsafe.Pointer(pub)), mu, sig)
}
