package keys

import (
	"bytes"
	"crypto/mlkem"
	"encoding/asn1"
	"errors"
	"testing"
)

// parseMLKEMSPKI reads an ML-KEM SubjectPublicKeyInfo independently of the
// package: SEQUENCE { SEQUENCE { OID }, BIT STRING }.
func parseMLKEMSPKI(t *testing.T, der []byte) (asn1.ObjectIdentifier, []byte) {
	t.Helper()
	var v struct {
		Alg struct{ OID asn1.ObjectIdentifier }
		Key asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ML-KEM SPKI does not parse: %v", err)
	}
	return v.Alg.OID, v.Key.RightAlign()
}

func TestMLKEM(t *testing.T) {
	for _, tc := range []struct {
		spec         string
		oid          asn1.ObjectIdentifier
		ekSize, size int
	}{
		{"ML_KEM_768", asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2}, mlkem.EncapsulationKeySize768, mlkem.CiphertextSize768},
		{"ML_KEM_1024", asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}, mlkem.EncapsulationKeySize1024, mlkem.CiphertextSize1024},
	} {
		k := testKey(t, tc.spec)
		oid, ek := parseMLKEMSPKI(t, k.PublicKeyDER())
		if !oid.Equal(tc.oid) || len(ek) != tc.ekSize {
			t.Fatalf("%s: SPKI has OID %v and a %d-byte key", tc.spec, oid, len(ek))
		}

		// Encapsulate with crypto/mlkem from the public key alone.
		var shared, ct []byte
		if tc.spec == "ML_KEM_768" {
			pub, err := mlkem.NewEncapsulationKey768(ek)
			if err != nil {
				t.Fatal(err)
			}
			shared, ct = pub.Encapsulate()
		} else {
			pub, err := mlkem.NewEncapsulationKey1024(ek)
			if err != nil {
				t.Fatal(err)
			}
			shared, ct = pub.Encapsulate()
		}
		got, err := k.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, shared) || len(got) != mlkem.SharedKeySize {
			t.Errorf("%s: Decapsulate does not recover the shared key (%v)", tc.spec, err)
		}

		// Encapsulate here; crypto/mlkem decapsulates with the seed.
		shared2, ct2, err := k.Encapsulate()
		if err != nil || len(ct2) != tc.size {
			t.Fatalf("%s: Encapsulate: %v, %d-byte ciphertext", tc.spec, err, len(ct2))
		}
		seed, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		if tc.spec == "ML_KEM_768" {
			dk, err := mlkem.NewDecapsulationKey768(seed)
			if err != nil {
				t.Fatal(err)
			}
			want, err = dk.Decapsulate(ct2)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			dk, err := mlkem.NewDecapsulationKey1024(seed)
			if err != nil {
				t.Fatal(err)
			}
			want, err = dk.Decapsulate(ct2)
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(shared2, want) {
			t.Errorf("%s: crypto/mlkem decapsulates another key from Encapsulate's ciphertext", tc.spec)
		}

		// Implicit rejection: a changed ciphertext gives another secret,
		// not an error; a wrong length is an error.
		bad := append([]byte(nil), ct...)
		bad[0] ^= 1
		if got, err := k.Decapsulate(bad); err != nil || bytes.Equal(got, shared) {
			t.Errorf("%s: Decapsulate of a changed ciphertext = %v", tc.spec, err)
		}
		for _, n := range []int{0, tc.size - 1, tc.size + 1} {
			if _, err := k.Decapsulate(make([]byte, n)); !errors.Is(err, ErrInvalidCiphertext) {
				t.Errorf("%s: Decapsulate of %d bytes = %v, want ErrInvalidCiphertext", tc.spec, n, err)
			}
		}
	}
	ec := testKey(t, "ECC_NIST_P256")
	if _, err := ec.Decapsulate(make([]byte, 1088)); !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("Decapsulate with an ECC key = %v, want ErrUnsupportedOperation", err)
	}
	if _, _, err := ec.Encapsulate(); !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("Encapsulate with an ECC key = %v, want ErrUnsupportedOperation", err)
	}
}
