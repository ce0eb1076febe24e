package keys

import (
	"sync"
	"testing"
)

// TestConcurrentUse runs every operation of shared keys from several
// goroutines; with -race it checks that a cached key needs no lock.
func TestConcurrentUse(t *testing.T) {
	keys := keyCache{}
	type op func() error
	var ops []op
	for _, tc := range []signCase{
		{"RSA_2048", "RSASSA_PSS_SHA_256"}, {"ECC_NIST_P256", "ECDSA_SHA_256"}, {"ECC_NIST_EDWARDS25519", "ED25519_SHA_512"},
	} {
		k := keys.get(t, tc.spec)
		ops = append(ops, func() error {
			sig, err := k.Sign(tc.alg, MessageRaw, []byte("m"))
			if err != nil {
				return err
			}
			return k.Verify(tc.alg, MessageRaw, []byte("m"), sig)
		})
	}
	rsaKey := keys.get(t, "RSA_2048")
	ops = append(ops, func() error {
		ct, err := rsaKey.Encrypt("RSAES_OAEP_SHA_256", []byte("pt"))
		if err != nil {
			return err
		}
		_, err = rsaKey.Decrypt("RSAES_OAEP_SHA_256", ct)
		return err
	})
	ec, peer := keys.get(t, "ECC_NIST_P384"), keys.get(t, "ECC_NIST_P384").PublicKeyDER()
	ops = append(ops, func() error { _, err := ec.DeriveSharedSecret(peer); return err })
	kem := keys.get(t, "ML_KEM_768")
	ops = append(ops, func() error {
		_, ct, err := kem.Encapsulate()
		if err != nil {
			return err
		}
		_, err = kem.Decapsulate(ct)
		return err
	})

	var wg sync.WaitGroup
	errs := make(chan error, 4*len(ops))
	for range 4 {
		for _, o := range ops {
			wg.Go(func() { errs <- o() })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
