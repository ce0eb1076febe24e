package keys

import (
	"errors"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

func TestKeyUsagesAndAlgorithms(t *testing.T) {
	rsaSign := []string{
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
	}
	for _, tc := range []struct {
		spec, usage string
		want        Algorithms
	}{
		{"SYMMETRIC_DEFAULT", UsageEncryptDecrypt, Algorithms{EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}}},
		{"RSA_2048", UsageEncryptDecrypt, Algorithms{EncryptionAlgorithms: []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}}},
		{"RSA_4096", UsageSignVerify, Algorithms{SigningAlgorithms: rsaSign}},
		{"ECC_NIST_P256", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ECDSA_SHA_256"}}},
		{"ECC_NIST_P384", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ECDSA_SHA_384"}}},
		{"ECC_NIST_P521", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ECDSA_SHA_512"}}},
		{"ECC_NIST_P521", UsageKeyAgreement, Algorithms{KeyAgreementAlgorithms: []string{"ECDH"}}},
		{"ECC_SECG_P256K1", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ECDSA_SHA_256"}}},
		{"ECC_NIST_EDWARDS25519", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}}},
		{"ML_DSA_65", UsageSignVerify, Algorithms{SigningAlgorithms: []string{"ML_DSA_SHAKE_256"}}},
		{"ML_KEM_1024", UsageEncapsulateDecapsulate, Algorithms{EncapsulationAlgorithms: []string{"ML_KEM"}}},
		{"HMAC_224", UsageGenerateVerifyMAC, Algorithms{MacAlgorithms: []string{"HMAC_SHA_224"}}},
		{"HMAC_512", UsageGenerateVerifyMAC, Algorithms{MacAlgorithms: []string{"HMAC_SHA_512"}}},
		{"SM2", UsageEncryptDecrypt, Algorithms{EncryptionAlgorithms: []string{"SM2PKE"}}},
	} {
		got, err := AlgorithmsFor(tc.spec, tc.usage)
		if err != nil {
			t.Errorf("AlgorithmsFor(%s, %s): %v", tc.spec, tc.usage, err)
			continue
		}
		if !slices.Equal(got.EncryptionAlgorithms, tc.want.EncryptionAlgorithms) ||
			!slices.Equal(got.SigningAlgorithms, tc.want.SigningAlgorithms) ||
			!slices.Equal(got.MacAlgorithms, tc.want.MacAlgorithms) ||
			!slices.Equal(got.KeyAgreementAlgorithms, tc.want.KeyAgreementAlgorithms) ||
			!slices.Equal(got.EncapsulationAlgorithms, tc.want.EncapsulationAlgorithms) {
			t.Errorf("AlgorithmsFor(%s, %s) = %+v, want %+v", tc.spec, tc.usage, got, tc.want)
		}
	}
	for _, tc := range []struct{ spec, usage string }{
		{"ECC_NIST_EDWARDS25519", UsageKeyAgreement},
		{"ECC_SECG_P256K1", UsageKeyAgreement},
		{"RSA_2048", UsageKeyAgreement},
		{"HMAC_256", UsageSignVerify},
		{"SYMMETRIC_DEFAULT", UsageSignVerify},
		{"ML_KEM_768", UsageEncryptDecrypt},
		{"ECC_NIST_P256", UsageEncryptDecrypt},
	} {
		if _, err := AlgorithmsFor(tc.spec, tc.usage); !errors.Is(err, ErrUnsupportedOperation) {
			t.Errorf("AlgorithmsFor(%s, %s) = %v, want ErrUnsupportedOperation", tc.spec, tc.usage, err)
		}
	}
	if _, err := AlgorithmsFor("RSA_1024", UsageSignVerify); !errors.Is(err, ErrUnsupportedKeySpec) {
		t.Errorf("AlgorithmsFor(RSA_1024) = %v", err)
	}

	for spec, want := range map[string][]string{
		"SYMMETRIC_DEFAULT":     {UsageEncryptDecrypt},
		"RSA_3072":              {UsageEncryptDecrypt, UsageSignVerify},
		"ECC_NIST_P384":         {UsageSignVerify, UsageKeyAgreement},
		"ECC_SECG_P256K1":       {UsageSignVerify},
		"ECC_NIST_EDWARDS25519": {UsageSignVerify},
		"ML_DSA_44":             {UsageSignVerify},
		"ML_KEM_512":            {UsageEncapsulateDecapsulate},
		"HMAC_384":              {UsageGenerateVerifyMAC},
		"SM2":                   {UsageEncryptDecrypt, UsageSignVerify, UsageKeyAgreement},
	} {
		got, err := KeyUsages(spec)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("KeyUsages(%s) = %v, %v; want %v", spec, got, err, want)
		}
	}
	if _, err := KeyUsages("ECC_NIST_P224"); !errors.Is(err, ErrUnsupportedKeySpec) {
		t.Errorf("KeyUsages(ECC_NIST_P224) = %v", err)
	}

	// The tables are fresh values: changing one result changes no other.
	a, _ := AlgorithmsFor("RSA_2048", UsageSignVerify)
	a.SigningAlgorithms[0] = "changed"
	if b, _ := AlgorithmsFor("RSA_2048", UsageSignVerify); b.SigningAlgorithms[0] != "RSASSA_PSS_SHA_256" {
		t.Error("AlgorithmsFor returns shared slices")
	}
}

func TestImplemented(t *testing.T) {
	for _, spec := range []string{
		"SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
		"ECC_NIST_P521", "ECC_NIST_EDWARDS25519", "ML_KEM_768", "ML_KEM_1024",
		"HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512",
		"ECC_SECG_P256K1", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512", "SM2",
	} {
		if !Implemented(spec) {
			t.Errorf("Implemented(%s) = false", spec)
		}
	}
	for _, spec := range []string{"FOO", "ML_DSA_128", "ECC_SECG_P256R1"} {
		if Implemented(spec) {
			t.Errorf("Implemented(%s) = true", spec)
		}
	}
}

// Every KeySpec of the AWS API model has a table, and what a caller gets
// is its own copy: changing it changes nothing for the next caller.
func TestSpecTableCoversTheModelAndIsNotShared(t *testing.T) {
	for _, spec := range kmsapi.KeySpec("").Values() {
		if !Implemented(string(spec)) {
			t.Errorf("no table for KeySpec %s", spec)
		}
	}
	a, err := AlgorithmsFor("RSA_2048", UsageSignVerify)
	if err != nil {
		t.Fatal(err)
	}
	a.SigningAlgorithms[0] = "CHANGED"
	u, _ := KeyUsages("RSA_2048")
	u[0] = "CHANGED"
	if b, _ := AlgorithmsFor("RSA_2048", UsageSignVerify); b.SigningAlgorithms[0] != "RSASSA_PSS_SHA_256" {
		t.Errorf("a caller's change reached the table: %v", b.SigningAlgorithms)
	}
	if u, _ := KeyUsages("RSA_2048"); u[0] != UsageEncryptDecrypt {
		t.Errorf("a caller's change reached the table: %v", u)
	}
}
