//go:build cgo

package hsm_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/hsm/softhsmtest"
)

// openToken makes a fresh SoftHSM2 token, opens it and closes it at cleanup.
func openToken(t *testing.T, label string) (tok *hsm.Token, module, tokenLabel, pin string) {
	t.Helper()
	module, tokenLabel, pin = softhsmtest.NewToken(t, label)
	return mustOpen(t, module, tokenLabel, pin), module, tokenLabel, pin
}

func mustOpen(t *testing.T, module, tokenLabel, pin string) *hsm.Token {
	t.Helper()
	tok, err := hsm.Open(module, tokenLabel, pin)
	if err != nil {
		t.Fatalf("Open(%q): %v", tokenLabel, err)
	}
	t.Cleanup(func() {
		if err := tok.Close(); err != nil {
			t.Errorf("Close(%q): %v", tokenLabel, err)
		}
	})
	return tok
}

func mustGenerate(t *testing.T, tok *hsm.Token, label string) {
	t.Helper()
	if err := tok.GenerateKey(label); err != nil {
		t.Fatalf("GenerateKey(%q): %v", label, err)
	}
}

func TestGenerateEncryptDecrypt(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := openToken(t, "roundtrip")
	if has, err := tok.HasKey("k"); err != nil || has {
		t.Fatalf("HasKey before GenerateKey = %v, %v", has, err)
	}
	mustGenerate(t, tok, "k")
	if has, err := tok.HasKey("k"); err != nil || !has {
		t.Fatalf("HasKey after GenerateKey = %v, %v", has, err)
	}
	if err := tok.GenerateKey("k"); !errors.Is(err, hsm.ErrKeyExists) {
		t.Fatalf("second GenerateKey = %v, want ErrKeyExists", err)
	}

	for _, c := range []struct {
		name    string
		pt, aad []byte
	}{
		{"with aad", []byte("root key material, 32 bytes long"), []byte("kmsd root keyring v1")},
		{"nil aad", []byte("x"), nil},
		{"empty plaintext", []byte{}, []byte("aad")},
		{"large", bytes.Repeat([]byte{0xa5}, 64<<10), []byte("aad")},
	} {
		t.Run(c.name, func(t *testing.T) {
			sealed, err := tok.Encrypt("k", c.pt, c.aad)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if len(sealed) != 12+len(c.pt)+16 {
				t.Fatalf("sealed is %d bytes, want 12+%d+16", len(sealed), len(c.pt))
			}
			if len(c.pt) >= 8 && bytes.Contains(sealed, c.pt) { // shorter ones occur by chance
				t.Fatal("sealed data contains the plaintext")
			}
			again, err := tok.Encrypt("k", c.pt, c.aad)
			if err != nil {
				t.Fatalf("Encrypt again: %v", err)
			}
			if bytes.Equal(sealed[:12], again[:12]) {
				t.Fatal("two encryptions used the same IV")
			}
			got, err := tok.Decrypt("k", sealed, c.aad)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, c.pt) {
				t.Fatalf("Decrypt returned %d bytes that differ from the plaintext", len(got))
			}
		})
	}
}

func TestDecryptRejectsTampering(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := openToken(t, "tamper")
	mustGenerate(t, tok, "k")
	mustGenerate(t, tok, "other")
	aad := []byte("context")
	sealed, err := tok.Encrypt("k", []byte("secret payload"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name, key   string
		sealed, aad []byte
	}{
		{"wrong aad", "k", sealed, []byte("contexT")},
		{"missing aad", "k", sealed, nil},
		{"flipped iv byte", "k", flip(0), aad},
		{"flipped ciphertext byte", "k", flip(12), aad},
		{"flipped tag byte", "k", flip(len(sealed) - 1), aad},
		{"truncated tag", "k", sealed[:len(sealed)-1], aad},
		{"shorter than iv and tag", "k", sealed[:27], aad},
		{"empty", "k", nil, aad},
		{"other key", "other", sealed, aad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pt, err := tok.Decrypt(c.key, c.sealed, c.aad)
			if !errors.Is(err, hsm.ErrDecrypt) {
				t.Fatalf("Decrypt = %q, %v; want ErrDecrypt", pt, err)
			}
		})
	}
	// A failed decryption leaves the session usable.
	if _, err := tok.Decrypt("k", sealed, aad); err != nil {
		t.Fatalf("Decrypt after failures: %v", err)
	}
}

func TestKeyIsNotExtractable(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := openToken(t, "extract")
	mustGenerate(t, tok, "k")
	attrs, err := tok.KeyAttributes("k", pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_SENSITIVE,
		pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_TOKEN, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_VALUE_LEN)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint][]byte{
		pkcs11.CKA_EXTRACTABLE:       {0},
		pkcs11.CKA_SENSITIVE:         {1},
		pkcs11.CKA_NEVER_EXTRACTABLE: {1},
		pkcs11.CKA_TOKEN:             {1},
	}
	for _, a := range attrs {
		switch a.Type {
		case pkcs11.CKA_KEY_TYPE:
			if v, _ := pkcs11.NewAttribute(0, uint(pkcs11.CKK_AES)).Value, a.Value; !bytes.Equal(v, a.Value) {
				t.Errorf("CKA_KEY_TYPE = %x, want CKK_AES", a.Value)
			}
		case pkcs11.CKA_VALUE_LEN:
			if v := pkcs11.NewAttribute(0, 32).Value; !bytes.Equal(v, a.Value) {
				t.Errorf("CKA_VALUE_LEN = %x, want 32", a.Value)
			}
		default:
			if !bytes.Equal(a.Value, want[a.Type]) {
				t.Errorf("attribute 0x%x = %x, want %x", a.Type, a.Value, want[a.Type])
			}
		}
	}
	_, err = tok.KeyAttributes("k", pkcs11.CKA_VALUE)
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
		t.Fatalf("reading CKA_VALUE = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	module, tokenLabel, pin := softhsmtest.NewToken(t, "openerr")
	notLib := filepath.Join(t.TempDir(), "libnot.so")
	if err := os.WriteFile(notLib, []byte("not a shared object"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPIN := "wrong-" + pin
	cases := []struct {
		name               string
		module, label, pin string
		want               error
	}{
		{"wrong pin", module, tokenLabel, wrongPIN, hsm.ErrPINIncorrect},
		{"unknown token label", module, "no-such-token", pin, hsm.ErrTokenNotFound},
		{"missing module", filepath.Join(t.TempDir(), "missing.so"), tokenLabel, pin, hsm.ErrModule},
		{"module not a library", notLib, tokenLabel, pin, hsm.ErrModule},
		{"empty module path", "", tokenLabel, pin, hsm.ErrModule},
		{"bare name not on the loader path", "libkmsd-no-such-module.so", tokenLabel, pin, hsm.ErrModule},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := hsm.Open(c.module, c.label, c.pin)
			if !errors.Is(err, c.want) {
				if tok != nil {
					tok.Close()
				}
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			if strings.Contains(err.Error(), pin) || strings.Contains(err.Error(), wrongPIN) {
				t.Fatalf("error %q carries the PIN", err)
			}
		})
	}
	// The failures above leave the token usable with the right PIN.
	tok := mustOpen(t, module, tokenLabel, pin)
	if err := tok.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestWrongPINNamesCKR(t *testing.T) {
	t.Parallel()
	module, tokenLabel, _ := softhsmtest.NewToken(t, "ckrname")
	_, err := hsm.Open(module, tokenLabel, "00000000")
	if !errors.Is(err, hsm.ErrPINIncorrect) || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Fatalf("Open with a wrong PIN = %v", err)
	}
}

func TestKeyDeletedBehindTokensBack(t *testing.T) {
	t.Parallel()
	tok, module, tokenLabel, pin := openToken(t, "deleted")
	other := mustOpen(t, module, tokenLabel, pin)
	mustGenerate(t, tok, "k")
	aad := []byte("aad")
	old, err := tok.Encrypt("k", []byte("before"), aad) // caches the handle
	if err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteKey("k"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if _, err := tok.Encrypt("k", []byte("after"), aad); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Encrypt with a deleted key = %v, want ErrKeyNotFound", err)
	}
	if _, err := tok.Decrypt("k", old, aad); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Decrypt with a deleted key = %v, want ErrKeyNotFound", err)
	}
	if has, err := tok.HasKey("k"); err != nil || has {
		t.Fatalf("HasKey after delete = %v, %v", has, err)
	}
	if err := tok.DeleteKey("k"); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("second DeleteKey = %v, want ErrKeyNotFound", err)
	}
	// A new key under the label is the one used from now on, and it cannot
	// open what the old key sealed.
	mustGenerate(t, other, "k")
	sealed, err := tok.Encrypt("k", []byte("new"), aad)
	if err != nil {
		t.Fatalf("Encrypt with the regenerated key: %v", err)
	}
	if pt, err := other.Decrypt("k", sealed, aad); err != nil || string(pt) != "new" {
		t.Fatalf("Decrypt on the other Token = %q, %v", pt, err)
	}
	if _, err := tok.Decrypt("k", old, aad); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("Decrypt of the old key's data = %v, want ErrDecrypt", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := openToken(t, "concurrent")
	for _, l := range []string{"a", "b"} {
		mustGenerate(t, tok, l)
	}
	const workers, rounds = 40, 15 // more workers than the pool has sessions
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			label := []string{"a", "b"}[w%2]
			for i := range rounds {
				pt := fmt.Appendf(nil, "worker %d round %d", w, i)
				aad := fmt.Appendf(nil, "aad %d", w)
				sealed, err := tok.Encrypt(label, pt, aad)
				if err != nil {
					errs <- err
					return
				}
				got, err := tok.Decrypt(label, sealed, aad)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("worker %d round %d: Decrypt = %q, %v", w, i, got, err)
					return
				}
				if i%5 == 0 {
					if err := tok.Ping(); err != nil {
						errs <- err
						return
					}
					if has, err := tok.HasKey(label); err != nil || !has {
						errs <- fmt.Errorf("HasKey = %v, %v", has, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Racing GenerateKey calls on one label make exactly one key.
func TestConcurrentGenerateSameLabel(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := openToken(t, "genrace")
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { errs <- tok.GenerateKey("k") })
	}
	wg.Wait()
	close(errs)
	made := 0
	for err := range errs {
		switch {
		case err == nil:
			made++
		case !errors.Is(err, hsm.ErrKeyExists):
			t.Errorf("GenerateKey = %v", err)
		}
	}
	if made != 1 {
		t.Fatalf("%d of %d racing GenerateKey calls made a key, want 1", made, n)
	}
	if _, err := tok.Encrypt("k", []byte("x"), nil); err != nil {
		t.Fatalf("Encrypt under the raced label: %v", err)
	}
}

func TestTwoTokensInOneProcess(t *testing.T) {
	t.Parallel()
	modA, labelA, pinA := softhsmtest.NewToken(t, "two-a")
	modB, labelB, pinB := softhsmtest.NewToken(t, "two-b")
	a, err := hsm.Open(modA, labelA, pinA)
	if err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, modB, labelB, pinB)
	if _, err := hsm.Open(modA, labelA, pinB); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("Open A with B's PIN = %v, want ErrPINIncorrect", err)
	}
	mustGenerate(t, a, "same-label")
	if has, err := b.HasKey("same-label"); err != nil || has {
		t.Fatalf("B sees A's key: %v, %v", has, err)
	}
	mustGenerate(t, b, "same-label")
	sealedA, err := a.Encrypt("same-label", []byte("for a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt("same-label", sealedA, nil); !errors.Is(err, hsm.ErrDecrypt) {
		t.Fatalf("B decrypting A's data = %v, want ErrDecrypt", err)
	}
	if pt, err := a.Decrypt("same-label", sealedA, nil); err != nil || string(pt) != "for a" {
		t.Fatalf("A decrypting its own data = %q, %v", pt, err)
	}
	// Closing A leaves B (same module) working.
	if err := a.Close(); err != nil {
		t.Fatalf("Close A: %v", err)
	}
	if err := a.Ping(); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
	if _, err := a.Encrypt("same-label", nil, nil); !errors.Is(err, hsm.ErrClosed) {
		t.Fatalf("Encrypt after Close = %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Ping(); err != nil {
		t.Fatalf("Ping B after closing A: %v", err)
	}
	if _, err := b.Encrypt("same-label", []byte("still"), nil); err != nil {
		t.Fatalf("Encrypt on B after closing A: %v", err)
	}
}

// Two Tokens on one token share the process's login: a second Open must
// still present the right PIN, and closing one must not log the other out.
func TestSameTokenOpenedTwice(t *testing.T) {
	t.Parallel()
	module, tokenLabel, pin := softhsmtest.NewToken(t, "twice")
	first, err := hsm.Open(module, tokenLabel, pin)
	if err != nil {
		t.Fatal(err)
	}
	second := mustOpen(t, module, tokenLabel, pin)
	if _, err := hsm.Open(module, tokenLabel, pin+"x"); !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("Open with a wrong PIN while logged in = %v, want ErrPINIncorrect", err)
	}
	mustGenerate(t, first, "k")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.Ping(); err != nil {
		t.Fatalf("Ping after the other Token closed: %v", err)
	}
	if _, err := second.Encrypt("k", []byte("x"), nil); err != nil {
		t.Fatalf("Encrypt after the other Token closed: %v", err)
	}
}

// After every Token on the module is closed the module is finalised; opening
// again initialises it afresh and finds the keys still in the token.
func TestReopen(t *testing.T) {
	module, tokenLabel, pin := softhsmtest.NewToken(t, "reopen")
	tok, err := hsm.Open(module, tokenLabel, pin)
	if err != nil {
		t.Fatal(err)
	}
	mustGenerate(t, tok, "k")
	sealed, err := tok.Encrypt("k", []byte("persisted"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, module, tokenLabel, pin)
	if pt, err := again.Decrypt("k", sealed, nil); err != nil || string(pt) != "persisted" {
		t.Fatalf("Decrypt after reopening = %q, %v", pt, err)
	}
}

func TestInitTokenRefusesDuplicateLabel(t *testing.T) {
	t.Parallel()
	module, tokenLabel, _ := softhsmtest.NewToken(t, "dup")
	if err := hsm.InitToken(module, tokenLabel, "so-pin-1", "user-pin-1"); !errors.Is(err, hsm.ErrTokenExists) {
		t.Fatalf("InitToken with a used label = %v, want ErrTokenExists", err)
	}
}

// Opening, closing and initialising tokens from many goroutines at once must
// not touch SoftHSM2's slot table concurrently (it aborts the process).
func TestConcurrentOpenAndInitToken(t *testing.T) {
	t.Parallel()
	module := softhsmtest.Module(t)
	run := rand.Text()[:10] // labels stay unique when -count reruns the test
	var wg sync.WaitGroup
	errs := make(chan error, 8*4*2)
	for w := range 8 {
		wg.Go(func() {
			for i := range 4 {
				tokenLabel, pin := fmt.Sprintf("conc-%s-%d-%d", run, w, i), "user-pin"
				if err := hsm.InitToken(module, tokenLabel, "so-pin", pin); err != nil {
					errs <- err
					return
				}
				tok, err := hsm.Open(module, tokenLabel, pin)
				if err != nil {
					errs <- err
					return
				}
				if _, err := hsm.Open(module, "no-such-token", pin); !errors.Is(err, hsm.ErrTokenNotFound) {
					errs <- fmt.Errorf("Open of an unknown label = %v", err)
				}
				if err := tok.Close(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
