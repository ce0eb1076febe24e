package keys

import "crypto/fips140"

// FIPSApproved reports whether keySpec is served by the Go Cryptographic
// Module, and so usable when the process runs in FIPS 140-only mode
// (GODEBUG=fips140=only). secp256k1 and SM2 are not FIPS algorithms;
// ML-DSA and ML-KEM-512 are (FIPS 204, FIPS 203) but their implementations
// here come from modules outside the validated one.
func FIPSApproved(keySpec string) bool {
	switch keySpec {
	case "ECC_SECG_P256K1", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512":
		return false
	}
	return true
}

// checkFIPSSpec refuses, in FIPS 140-only mode, the specs FIPSApproved
// rejects, before any library could panic on them.
func checkFIPSSpec(keySpec string) error {
	if fips140.Enforced() && !FIPSApproved(keySpec) {
		return ErrNotFIPSApproved
	}
	return nil
}
