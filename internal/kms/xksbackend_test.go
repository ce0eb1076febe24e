package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

func TestXKSEncryptDecryptRoundTrip(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/xks-orders", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	pt, aad := []byte("data key bytes 0123456789abcdef"), []byte("kms header")
	for _, ref := range []string{id, "xks-orders"} {
		c := call()
		out, err := h.svc.XKSEncrypt(ctx, c, ref, pt, aad)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if len(out.Ciphertext) != len(pt) || len(out.IV) != XKSIVSize || len(out.Tag) != XKSTagSize || len(out.Metadata) > 20 {
			t.Fatalf("%s: shape ct=%d iv=%d tag=%d meta=%d", ref, len(out.Ciphertext), len(out.IV), len(out.Tag), len(out.Metadata))
		}
		if len(c.Resources) != 1 || c.Resources[0] != keyARN("us-east-1", "111122223333", id) {
			t.Fatalf("%s: resources %v", ref, c.Resources)
		}
		got, err := h.svc.XKSDecrypt(ctx, call(), ref, out, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: decrypt %q, %v", ref, got, err)
		}
		if err := h.svc.XKSVerify(ctx, call(), ref, out, aad, pt); err != nil {
			t.Fatalf("%s: verify: %v", ref, err)
		}
		if err := h.svc.XKSVerify(ctx, call(), ref, out, aad, []byte("other")); kmserr.CodeOf(err) != kmserr.Internal {
			t.Fatalf("%s: verify against other bytes: %v", ref, err)
		}
	}
}

// TestXKSCiphertextMatchesSpec opens a ciphertext with the standard
// library alone, building the AAD as the XKS Proxy API specification says,
// so the format is pinned independently of XKSDecrypt.
func TestXKSCiphertextMatchesSpec(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	pt, aad := []byte("hello"), []byte("project=nile")
	out, err := h.svc.XKSEncrypt(ctx, call(), id, pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	k, err := h.svc.key(ctx, "111122223333", "us-east-1", id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Metadata[1:9], k.current[:8]) || out.Metadata[0] != 1 {
		t.Fatalf("metadata %x does not name material %s", out.Metadata, k.current)
	}
	dk, err := hkdf.Key(sha256.New, k.materialOf(k.current.String()), out.Metadata[9:], "kmsd/xks/v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(dk)
	// The random-nonce form (nonce | ciphertext | tag) is the one FIPS
	// 140-only mode allows.
	gcm, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]byte{0, byte(len(aad))}, aad...)
	full = append(append(full, byte(len(out.Metadata))), out.Metadata...)
	sealed := append(append(append([]byte{}, out.IV...), out.Ciphertext...), out.Tag...)
	got, err := gcm.Open(nil, nil, sealed, full)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("independent open: %q, %v", got, err)
	}
}

func TestXKSRotatedKeyDecryptsOlderCiphertext(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	old, err := h.svc.XKSEncrypt(ctx, call(), id, []byte("before"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RotateKeyOnDemand(ctx, call(), &kmsapi.RotateKeyOnDemandInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	fresh, err := h.svc.XKSEncrypt(ctx, call(), id, []byte("after"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.KeyMaterialID == old.KeyMaterialID || bytes.Equal(fresh.Metadata[1:9], old.Metadata[1:9]) {
		t.Fatal("encryption after rotation did not use the new material")
	}
	for _, c := range []*XKSCiphertext{old, fresh} {
		if _, err := h.svc.XKSDecrypt(ctx, call(), id, c, nil); err != nil {
			t.Fatalf("decrypt under material %s: %v", c.KeyMaterialID, err)
		}
	}
}

func TestXKSDecryptRefusesTampering(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	aad := []byte("aad")
	out, err := h.svc.XKSEncrypt(ctx, call(), id, []byte("secret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	cases := map[string]struct {
		ct  XKSCiphertext
		aad []byte
	}{
		"ciphertext": {XKSCiphertext{Ciphertext: flip(out.Ciphertext, 0), IV: out.IV, Tag: out.Tag, Metadata: out.Metadata}, aad},
		"iv":         {XKSCiphertext{Ciphertext: out.Ciphertext, IV: flip(out.IV, 3), Tag: out.Tag, Metadata: out.Metadata}, aad},
		"tag":        {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: flip(out.Tag, 15), Metadata: out.Metadata}, aad},
		"salt":       {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: flip(out.Metadata, 19)}, aad},
		"material":   {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: flip(out.Metadata, 1)}, aad},
		"no meta":    {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag}, aad},
		"aad":        {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: out.Metadata}, []byte("aae")},
		"no aad":     {XKSCiphertext{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: out.Metadata}, nil},
	}
	for name, tc := range cases {
		if _, err := h.svc.XKSDecrypt(ctx, call(), id, &tc.ct, tc.aad); kmserr.CodeOf(err) != kmserr.InvalidCiphertext {
			t.Errorf("%s: got %v, want InvalidCiphertextException", name, err)
		}
	}
	// Another key's material does not open it either.
	other := h.createKey()
	if _, err := h.svc.XKSDecrypt(ctx, call(), other, out, aad); kmserr.CodeOf(err) != kmserr.InvalidCiphertext {
		t.Errorf("other key: got %v", err)
	}
}

func TestXKSKeyStatesAndSpecs(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	disabled := h.createKey()
	if _, err := h.svc.DisableKey(ctx, call(), &kmsapi.DisableKeyInput{KeyId: disabled}); err != nil {
		t.Fatal(err)
	}
	pending := h.createKey()
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: pending}); err != nil {
		t.Fatal(err)
	}
	rsa, err := h.svc.CreateKey(ctx, call(), &kmsapi.CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY"})
	if err != nil {
		t.Fatal(err)
	}
	asym := rsa.KeyMetadata.KeyId

	for _, tc := range []struct {
		ref, encryptCode, metaState string
		metaEnabled                 bool
		metaCode                    string
	}{
		{disabled, kmserr.Disabled, "Disabled", false, ""},
		{pending, kmserr.InvalidState, "PendingDeletion", false, ""},
		{asym, kmserr.InvalidKeyUsage, "", false, kmserr.NotFound},
		{"00000000-0000-0000-0000-000000000000", kmserr.NotFound, "", false, kmserr.NotFound},
		{"no-such-alias", kmserr.NotFound, "", false, kmserr.NotFound},
	} {
		if _, err := h.svc.XKSEncrypt(ctx, call(), tc.ref, []byte("x"), nil); kmserr.CodeOf(err) != tc.encryptCode {
			t.Errorf("encrypt %s: got %v, want %s", tc.ref, err, tc.encryptCode)
		}
		if _, err := h.svc.XKSDecrypt(ctx, call(), tc.ref, &XKSCiphertext{}, nil); kmserr.CodeOf(err) != tc.encryptCode {
			t.Errorf("decrypt %s: got %v, want %s", tc.ref, err, tc.encryptCode)
		}
		md, err := h.svc.XKSKeyMetadata(ctx, call(), tc.ref)
		if tc.metaCode != "" {
			if kmserr.CodeOf(err) != tc.metaCode {
				t.Errorf("metadata %s: got %v, want %s", tc.ref, err, tc.metaCode)
			}
			continue
		}
		if err != nil || md.Enabled != tc.metaEnabled || md.State != tc.metaState {
			t.Errorf("metadata %s: %+v, %v", tc.ref, md, err)
		}
	}
}

// countingLimiter allows everything and counts what it was asked.
type countingLimiter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *countingLimiter) Allow(_, _, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[name]++
	return true
}

// TestXKSChargesOneRequestPerCall: encrypt and decrypt each draw one
// symmetric request from the quota; the integrity check of a fresh
// ciphertext draws none.
func TestXKSChargesOneRequestPerCall(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	lim := &countingLimiter{n: map[string]int{}}
	svc, err := New(Config{Store: h.st, Sealer: h.svc.sealer, Authorizer: AccountOwner{}, Clock: h.clock, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	id := h.createKey()
	out, err := svc.XKSEncrypt(ctx, call(), id, []byte("pt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.XKSVerify(ctx, call(), id, out, nil, []byte("pt")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.XKSDecrypt(ctx, call(), id, out, nil); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range lim.n {
		total += n
	}
	if total != 2 {
		t.Fatalf("quota charged %v, want two requests", lim.n)
	}
}
