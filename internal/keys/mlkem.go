package keys

import (
	"crypto/rand"
	"encoding/asn1"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"

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
	case k.kem512 != nil:
		shared, err = k.kem512.decapsulate(ciphertext)
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
	case k.kem512 != nil:
		s, ciphertext = k.kem512.encapsulate()
	case k.kem768 != nil:
		s, ciphertext = k.kem768.EncapsulationKey().Encapsulate()
	case k.kem1024 != nil:
		s, ciphertext = k.kem1024.EncapsulationKey().Encapsulate()
	default:
		return nil, nil, ErrUnsupportedOperation
	}
	return secret.Bytes(s), ciphertext, nil
}

// mlkem512Key is an ML-KEM-512 decapsulation key. Go's crypto/mlkem has
// only the 768 and 1024 parameter sets; ML-KEM-512 comes from circl. The
// key is kept with the 64-byte seed it was expanded from, which is what
// MarshalPrivate stores, as for the other two sets.
type mlkem512Key struct {
	seed             []byte
	dk               *mlkem512.PrivateKey
	ek               *mlkem512.PublicKey
	encapsulationKey []byte
}

func generateMLKEM512() (*mlkem512Key, error) {
	seed := make([]byte, mlkem512.KeySeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return newMLKEM512(seed)
}

func newMLKEM512(seed []byte) (*mlkem512Key, error) {
	if len(seed) != mlkem512.KeySeedSize {
		return nil, ErrInvalidPrivateKey
	}
	ek, dk := mlkem512.NewKeyFromSeed(seed)
	b, err := ek.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &mlkem512Key{seed: append([]byte(nil), seed...), dk: dk, ek: ek, encapsulationKey: b}, nil
}

func (k *mlkem512Key) decapsulate(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) != mlkem512.CiphertextSize {
		return nil, ErrInvalidCiphertext
	}
	shared := make([]byte, mlkem512.SharedKeySize)
	k.dk.DecapsulateTo(shared, ciphertext)
	return shared, nil
}

func (k *mlkem512Key) encapsulate() (shared, ciphertext []byte) {
	shared = make([]byte, mlkem512.SharedKeySize)
	ciphertext = make([]byte, mlkem512.CiphertextSize)
	k.ek.EncapsulateTo(ciphertext, shared, nil)
	return shared, ciphertext
}
