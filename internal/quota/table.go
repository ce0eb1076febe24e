package quota

import "strings"

// The shared cryptographic quotas, one per key type. Every cryptographic
// operation on a key draws from the quota of the key's type.
const (
	Symmetric = "symmetric" // SYMMETRIC_DEFAULT and HMAC keys, and GenerateRandom
	RSA       = "rsa"
	ECC       = "ecc" // elliptic curve keys, Ed25519 and SM2 (AWS shares one quota)
	MLDSA     = "ml-dsa"
	MLKEM     = "ml-kem"
)

// dataKeyPairPrefix names the GenerateDataKeyPair quotas, one per pair spec,
// which GenerateDataKeyPairWithoutPlaintext shares.
const dataKeyPairPrefix = "GenerateDataKeyPair/"

// KeyClass returns the shared cryptographic quota a key spec draws from.
func KeyClass(keySpec string) string {
	switch {
	case strings.HasPrefix(keySpec, "RSA_"):
		return RSA
	case strings.HasPrefix(keySpec, "ECC_"), keySpec == "SM2":
		return ECC
	case strings.HasPrefix(keySpec, "ML_DSA_"):
		return MLDSA
	case strings.HasPrefix(keySpec, "ML_KEM_"):
		return MLKEM
	}
	return Symmetric
}

// DataKeyPair returns the quota of GenerateDataKeyPair for a pair spec.
func DataKeyPair(keyPairSpec string) string { return dataKeyPairPrefix + keyPairSpec }

// ChargedByKey reports whether an operation draws from a quota chosen by
// the key it uses (a shared cryptographic quota, or a GenerateDataKeyPair
// quota by pair spec) rather than from a quota of its own. Only the
// service that resolves the key can charge these.
func ChargedByKey(op string) bool { return byKey[op] }

var byKey = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncrypt": true,
	"GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true,
	"GenerateMac": true, "VerifyMac": true, "GenerateRandom": true,
	"Sign": true, "Verify": true, "DeriveSharedSecret": true,
	"Encapsulate": true, "Decapsulate": true,
}

// symmetricByRegion is the symmetric quota where it differs from the
// default of 10,000 requests per second.
var symmetricByRegion = map[string]float64{
	"us-east-1": 100000, "us-west-2": 100000, "eu-west-1": 100000,
	"us-east-2": 20000, "ap-southeast-1": 20000, "ap-southeast-2": 20000,
	"ap-northeast-1": 20000, "eu-central-1": 20000, "eu-west-2": 20000,
}

const symmetricDefault = 10000

// awsRates are AWS's default request quotas, in requests per second, as
// the AWS KMS Developer Guide's "Request quotas" page lists them. The
// symmetric quota depends on the Region (symmetricByRegion).
var awsRates = map[string]float64{
	RSA:   1000,
	ECC:   1000,
	MLDSA: 1000,
	// AWS lists no ML-KEM quota; kmsd gives it the other asymmetric rate.
	MLKEM: 1000,

	DataKeyPair("RSA_2048"):        1,
	DataKeyPair("RSA_3072"):        0.5,
	DataKeyPair("RSA_4096"):        0.1,
	DataKeyPair("ECC_NIST_P256"):   25,
	DataKeyPair("ECC_NIST_P384"):   10,
	DataKeyPair("ECC_NIST_P521"):   5,
	DataKeyPair("ECC_SECG_P256K1"): 25,
	// Pair specs AWS's table does not list: kmsd's choice, the rate of
	// the cheap curves.
	DataKeyPair("ECC_NIST_EDWARDS25519"): 25,
	DataKeyPair("SM2"):                   25,
	DataKeyPair("ML_KEM_512"):            25,
	DataKeyPair("ML_KEM_768"):            25,
	DataKeyPair("ML_KEM_1024"):           25,

	"CancelKeyDeletion":         5,
	"ConnectCustomKeyStore":     5,
	"CreateAlias":               5,
	"CreateCustomKeyStore":      5,
	"CreateGrant":               50,
	"CreateKey":                 5,
	"DeleteAlias":               15,
	"DeleteCustomKeyStore":      5,
	"DeleteImportedKeyMaterial": 15,
	"DescribeCustomKeyStores":   5,
	"DescribeKey":               2000,
	"DisableKey":                5,
	"DisableKeyRotation":        5,
	"DisconnectCustomKeyStore":  5,
	"EnableKey":                 5,
	"EnableKeyRotation":         15,
	"GetKeyPolicy":              1000,
	"GetKeyRotationStatus":      1000,
	"GetParametersForImport":    0.25,
	"GetPublicKey":              2000,
	"ImportKeyMaterial":         5,
	"ListAliases":               500,
	"ListGrants":                100,
	"ListKeyPolicies":           100,
	"ListKeys":                  500,
	"ListResourceTags":          2000,
	"ListRetirableGrants":       100,
	"PutKeyPolicy":              15,
	"ReplicateKey":              5,
	"RetireGrant":               30,
	"RevokeGrant":               30,
	"ScheduleKeyDeletion":       15,
	"TagResource":               10,
	"UntagResource":             5,
	"UpdateAlias":               5,
	"UpdateCustomKeyStore":      5,
	"UpdateKeyDescription":      5,
	"UpdatePrimaryRegion":       5,
	// Operations AWS's table does not list: kmsd's choice, the rate of
	// their kind (a Get, a List, a change).
	"GetKeyLastUsage":   1000,
	"ListKeyRotations":  100,
	"RotateKeyOnDemand": 5,
}

// known reports whether name is a quota kmsd has.
func known(name string) bool {
	_, ok := awsRates[name]
	return ok || name == Symmetric
}

// awsRate is AWS's default quota for name in region, 0 if there is none.
func awsRate(name, region string) float64 {
	if name != Symmetric {
		return awsRates[name]
	}
	if r, ok := symmetricByRegion[region]; ok {
		return r
	}
	return symmetricDefault
}
