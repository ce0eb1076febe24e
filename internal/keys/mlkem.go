package keys

import (
	"encoding/asn1"

	"github.com/kmsd/kmsd/internal/secret"
)

// mlkemOID returns the NIST algorithm OID of an ML-KEM parameter set
// (id-alg-ml-kem-512/768/1024 are 2.16.840.1.101.3.4.4.1/2/3), used in the
// SubjectPublicKeyInfo of ML-KEM keys as RFC 9935 specifies.
func mlkemOID(keySpec string) asn1.ObjectIdentifier {
	switch keySpec {
	case "ML_KEM_512":
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}
	case "ML_KEM_768":
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}
	case "ML_KEM_1024":
		return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}
	}
	return nil
}

type spkiAlgorithm struct {
	Algorithm asn1.ObjectIdentifier
}

type spki struct {
	Algorithm spkiAlgorithm
	PublicKey asn1.BitString
}

func marshalMLKEMPublicKey(oid asn1.ObjectIdentifier, ek []byte) ([]byte, error) {
	return asn1.Marshal(spki{
		Algorithm: spkiAlgorithm{Algorithm: oid},
		PublicKey: asn1.BitString{Bytes: ek, BitLength: 8 * len(ek)},
	})
}

// Decapsulate recovers the 32-byte shared secret from an ML-KEM ciphertext.
// A ciphertext of the wrong length gives ErrInvalidCiphertext; any other
// ciphertext yields a pseudo-random secret (FIPS 203 implicit rejection),
// as AWS documents for Decapsulate.
func (k *AsymmetricKey) Decapsulate(ciphertext []byte) (secret.Bytes, error) {
	var shared []byte
	var err error
	switch {
	case k.kem768 != nil:
		shared, err = k.kem768.Decapsulate(ciphertext)
	case k.kem1024 != nil:
		shared, err = k.kem1024.Decapsulate(ciphertext)
	default:
		return nil, ErrUnsupportedOperation
	}
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return secret.Bytes(shared), nil
}

// Encapsulate makes a fresh shared secret and its ciphertext with the
// key's encapsulation (public) key, as AWS's Encapsulate operation does.
func (k *AsymmetricKey) Encapsulate() (shared secret.Bytes, ciphertext []byte, err error) {
	var s []byte
	switch {
	case k.kem768 != nil:
		s, ciphertext = k.kem768.EncapsulationKey().Encapsulate()
	case k.kem1024 != nil:
		s, ciphertext = k.kem1024.EncapsulationKey().Encapsulate()
	default:
		return nil, nil, ErrUnsupportedOperation
	}
	return secret.Bytes(s), ciphertext, nil
}
