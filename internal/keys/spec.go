package keys

import (
	"errors"
	"slices"
)

// Sentinel errors of the asymmetric, HMAC, agreement and encapsulation
// primitives. None of them carries key material, plaintext or a message;
// the KMS layer maps them to AWS exceptions with errors.Is.
var (
	// ErrUnsupportedKeySpec: the KeySpec is unknown, or not one the
	// operation takes (an HMAC spec for Generate...).
	ErrUnsupportedKeySpec = errors.New("keys: unsupported key spec")
	// ErrNotFIPSApproved: in FIPS 140-only mode, the spec or algorithm is
	// not served by the Go Cryptographic Module (see FIPSApproved).
	ErrNotFIPSApproved = errors.New("keys: not available in FIPS 140-only mode")
	// ErrUnsupportedAlgorithm: the algorithm is unknown or does not belong
	// to the key spec (ECDSA_SHA_384 with ECC_NIST_P256, HMAC_SHA_256 with
	// HMAC_512, RSAES_OAEP_SHA_1 with an ECC key...).
	ErrUnsupportedAlgorithm = errors.New("keys: algorithm not supported by this key spec")
	// ErrUnsupportedOperation: the key spec cannot do the operation at all
	// (Sign with an ML-KEM key, Decrypt with an ECC key...).
	ErrUnsupportedOperation = errors.New("keys: operation not supported by this key spec")
	// ErrMessageType: MessageType is not RAW or DIGEST, or the algorithm
	// requires the other one (ED25519_SHA_512 needs RAW,
	// ED25519_PH_SHA_512 needs DIGEST).
	ErrMessageType = errors.New("keys: message type not allowed for this signing algorithm")
	// ErrDigestLength: a DIGEST message whose length is not the hash size.
	ErrDigestLength = errors.New("keys: digest length does not match the signing algorithm")
	// ErrInvalidSignature: Verify found the signature invalid.
	ErrInvalidSignature = errors.New("keys: invalid signature")
	// ErrInvalidMAC: VerifyMAC found the MAC invalid.
	ErrInvalidMAC = errors.New("keys: invalid MAC")
	// ErrPlaintextTooLarge: RSA-OAEP plaintext longer than MaxPlaintext.
	ErrPlaintextTooLarge = errors.New("keys: plaintext too large for the key spec and algorithm")
	// ErrInvalidPrivateKey: ParsePrivate or ParseHMACKey got material that
	// is malformed or does not match the key spec.
	ErrInvalidPrivateKey = errors.New("keys: invalid private key material for the key spec")
	// ErrInvalidPublicKey: a peer public key is malformed or on another
	// curve.
	ErrInvalidPublicKey = errors.New("keys: invalid public key")
)

// KeyUsage values, as AWS spells them.
const (
	UsageEncryptDecrypt         = "ENCRYPT_DECRYPT"
	UsageSignVerify             = "SIGN_VERIFY"
	UsageGenerateVerifyMAC      = "GENERATE_VERIFY_MAC"
	UsageKeyAgreement           = "KEY_AGREEMENT"
	UsageEncapsulateDecapsulate = "ENCAPSULATE_DECAPSULATE"
)

// MessageType values for Sign and Verify.
const (
	MessageRaw        = "RAW"
	MessageDigest     = "DIGEST"
	MessageExternalMu = "EXTERNAL_MU"
)

// Algorithms lists what DescribeKey shows for a key of one spec and usage.
// Lists that do not apply to the usage are nil (AWS omits them).
type Algorithms struct {
	EncryptionAlgorithms    []string
	SigningAlgorithms       []string
	MacAlgorithms           []string
	KeyAgreementAlgorithms  []string
	EncapsulationAlgorithms []string
}

// specInfo is the AWS table for one KeySpec (reference §1.3). The table
// is built once and never handed out: callers get copies of its lists,
// so none can change it for another (DescribeKey reads it on every call).
type specInfo struct {
	usages []string // the first one is the default
	algs   map[string]Algorithms
}

var specTable = buildSpecTable()

func lookupSpec(keySpec string) (specInfo, bool) {
	info, ok := specTable[keySpec]
	return info, ok
}

var allKeySpecs = []string{"SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096",
	"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519",
	"ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024",
	"HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2"}

func buildSpecTable() map[string]specInfo {
	t := make(map[string]specInfo, len(allKeySpecs))
	for _, spec := range allKeySpecs {
		info, ok := specOf(spec)
		if !ok {
			panic("keys: no table for " + spec)
		}
		t[spec] = info
	}
	return t
}

func specOf(keySpec string) (specInfo, bool) {
	ecc := func(alg string) specInfo {
		return specInfo{
			usages: []string{UsageSignVerify, UsageKeyAgreement},
			algs: map[string]Algorithms{
				UsageSignVerify:   {SigningAlgorithms: []string{alg}},
				UsageKeyAgreement: {KeyAgreementAlgorithms: []string{"ECDH"}},
			},
		}
	}
	switch keySpec {
	case "SYMMETRIC_DEFAULT":
		return specInfo{
			usages: []string{UsageEncryptDecrypt},
			algs:   map[string]Algorithms{UsageEncryptDecrypt: {EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}}},
		}, true
	case "RSA_2048", "RSA_3072", "RSA_4096":
		return specInfo{
			usages: []string{UsageEncryptDecrypt, UsageSignVerify},
			algs: map[string]Algorithms{
				UsageEncryptDecrypt: {EncryptionAlgorithms: []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}},
				UsageSignVerify: {SigningAlgorithms: []string{
					"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
					"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
				}},
			},
		}, true
	case "ECC_NIST_P256":
		return ecc("ECDSA_SHA_256"), true
	case "ECC_NIST_P384":
		return ecc("ECDSA_SHA_384"), true
	case "ECC_NIST_P521":
		return ecc("ECDSA_SHA_512"), true
	case "ECC_SECG_P256K1":
		return specInfo{
			usages: []string{UsageSignVerify},
			algs:   map[string]Algorithms{UsageSignVerify: {SigningAlgorithms: []string{"ECDSA_SHA_256"}}},
		}, true
	case "ECC_NIST_EDWARDS25519":
		return specInfo{
			usages: []string{UsageSignVerify},
			algs:   map[string]Algorithms{UsageSignVerify: {SigningAlgorithms: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}}},
		}, true
	case "ML_DSA_44", "ML_DSA_65", "ML_DSA_87":
		return specInfo{
			usages: []string{UsageSignVerify},
			algs:   map[string]Algorithms{UsageSignVerify: {SigningAlgorithms: []string{"ML_DSA_SHAKE_256"}}},
		}, true
	case "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024":
		return specInfo{
			usages: []string{UsageEncapsulateDecapsulate},
			algs:   map[string]Algorithms{UsageEncapsulateDecapsulate: {EncapsulationAlgorithms: []string{"ML_KEM"}}},
		}, true
	case "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512":
		return specInfo{
			usages: []string{UsageGenerateVerifyMAC},
			algs:   map[string]Algorithms{UsageGenerateVerifyMAC: {MacAlgorithms: []string{"HMAC_SHA_" + keySpec[len("HMAC_"):]}}},
		}, true
	case "SM2":
		return specInfo{
			usages: []string{UsageEncryptDecrypt, UsageSignVerify, UsageKeyAgreement},
			algs: map[string]Algorithms{
				UsageEncryptDecrypt: {EncryptionAlgorithms: []string{"SM2PKE"}},
				UsageSignVerify:     {SigningAlgorithms: []string{"SM2DSA"}},
				UsageKeyAgreement:   {KeyAgreementAlgorithms: []string{"ECDH"}},
			},
		}, true
	}
	return specInfo{}, false
}

// KeyUsages returns the KeyUsage values AWS allows for keySpec; the first is
// the default when CreateKey names none. It knows every AWS KeySpec, also
// those this package cannot serve in FIPS 140-only mode (see FIPSApproved).
func KeyUsages(keySpec string) ([]string, error) {
	info, ok := lookupSpec(keySpec)
	if !ok {
		return nil, ErrUnsupportedKeySpec
	}
	return slices.Clone(info.usages), nil
}

// AlgorithmsFor returns the algorithm lists DescribeKey shows for a key of
// keySpec with keyUsage. It returns ErrUnsupportedKeySpec for an unknown
// spec and ErrUnsupportedOperation for a usage the spec does not allow.
func AlgorithmsFor(keySpec, keyUsage string) (Algorithms, error) {
	info, ok := lookupSpec(keySpec)
	if !ok {
		return Algorithms{}, ErrUnsupportedKeySpec
	}
	a, ok := info.algs[keyUsage]
	if !ok {
		return Algorithms{}, ErrUnsupportedOperation
	}
	return Algorithms{
		EncryptionAlgorithms:    slices.Clone(a.EncryptionAlgorithms),
		SigningAlgorithms:       slices.Clone(a.SigningAlgorithms),
		MacAlgorithms:           slices.Clone(a.MacAlgorithms),
		KeyAgreementAlgorithms:  slices.Clone(a.KeyAgreementAlgorithms),
		EncapsulationAlgorithms: slices.Clone(a.EncapsulationAlgorithms),
	}, nil
}

// Implemented reports whether this package can generate and use keys of
// keySpec: every KeySpec of the AWS API.
func Implemented(keySpec string) bool {
	_, ok := lookupSpec(keySpec)
	return ok
}
