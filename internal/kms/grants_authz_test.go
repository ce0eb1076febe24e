package kms

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
)

// With the policy authorizer, a grant alone lets another account use a key
// whose policy names only its own account.
func TestGrantAllowsUnderPolicyAuthorizer(t *testing.T) {
	h := newGrantHarness(t)
	svc, err := New(Config{Store: h.st, Sealer: mustSealer(t, h.dir), Authorizer: PolicyAuthorizer{}, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.CreateKey(bg, asPrincipal(gRootA), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	key := out.KeyMetadata.Arn
	_, err = svc.Encrypt(bg, asPrincipal(gRootB), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x")})
	wantGrantCode(t, err, kmserr.AccessDenied)
	g, err := svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gRootB, Operations: ops("Encrypt")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Encrypt(bg, asPrincipal(gRootB), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt through a grant: %v", err)
	}
	_, err = svc.Decrypt(bg, asPrincipal(gRootB), &kmsapi.DecryptInput{KeyId: key, CiphertextBlob: []byte("x")})
	wantGrantCode(t, err, kmserr.AccessDenied)
	if _, err := svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Encrypt(bg, asPrincipal(gRootB), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x")})
	wantGrantCode(t, err, kmserr.AccessDenied)
}

func mustSealer(t *testing.T, dir string) Sealer {
	t.Helper()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fillGrants stores n Encrypt/Decrypt grants on key in one transaction,
// the i-th for grantee(i).
func fillGrants(tb testing.TB, h *grantHarness, key string, n int, grantee func(int) string, cons string, ctx map[string]string) {
	tb.Helper()
	ref, err := parseKeyRef(&asPrincipal(gRootA).Caller, key, keyOnly)
	if err != nil {
		tb.Fatal(err)
	}
	err = h.st.Update(bg, func(tx store.Tx) error {
		for i := range n {
			g := &grantRecord{GrantID: newGrantID(), KeyID: ref.keyID, AccountID: gAcctA, Region: gRegion, Created: h.clock.Now(),
				Grantee: grantee(i), IssuingAccount: gRootA, Operations: []string{"Encrypt", "Decrypt"}, Constraint: cons, Context: ctx, TokenKey: []byte{0}}
			if err := putGrant(tx, g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	h.svc.cache.invalidate(cacheKeyID(gAcctA, gRegion, ref.keyID))
}

// BenchmarkGrantAllows measures the grant answer of one request on a key
// with 1,000 grants: spread over 1,000 grantees (the caller holds one), all
// held by the caller (the worst case: every one is checked), and for a
// caller that holds none. The Encrypt cases run the whole operation.
func BenchmarkGrantAllows(b *testing.B) {
	h := newGrantHarness(b)
	spread, mine := h.symmetricKey(b), h.symmetricKey(b)
	ec := map[string]string{"tenant": "t-42", "purpose": "bench"}
	fillGrants(b, h, spread, 1000, func(i int) string { return fmt.Sprintf("arn:aws:iam::444455556666:user/u%d", i) },
		constraintSubset, map[string]string{"tenant": "t-42"})
	fillGrants(b, h, mine, 1000, func(int) string { return gBobB }, constraintEquals, map[string]string{"tenant": "other"})
	fillGrants(b, h, mine, 1, func(int) string { return gBobB }, constraintSubset, map[string]string{"tenant": "t-42"})
	load := func(key string) *cachedKey {
		ref, _ := parseKeyRef(&asPrincipal(gRootA).Caller, key, keyOnly)
		k, err := h.svc.resolve(bg, ref)
		if err != nil || k.grants.len() < 1000 {
			b.Fatalf("load %s: %v (%d grants)", key, err, k.grants.len())
		}
		return k
	}
	ks, km := load(spread), load(mine)
	cases := []struct {
		name   string
		k      *cachedKey
		caller string
		want   bool
	}{
		{"1000 grantees/caller holds one", ks, "arn:aws:iam::444455556666:user/u500", true},
		{"1000 grantees/caller holds none", ks, gCarolB, false},
		{"1001 grants to the caller/last matches", km, gBobB, true},
		{"1000 grantees/assumed-role caller", ks, gSession, false},
	}
	for _, tc := range cases {
		c := asPrincipal(tc.caller).Caller
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.k.grants.allows(&c, "kms:Encrypt", ec) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
	for _, tc := range []struct{ name, caller string }{
		{"Encrypt/key owner, no grant needed", gRootA},
		{"Encrypt/grantee among 1000 grants", "arn:aws:iam::444455556666:user/u500"},
	} {
		call := asPrincipal(tc.caller)
		in := &kmsapi.EncryptInput{KeyId: spread, Plaintext: []byte("benchmark"), EncryptionContext: ec}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				call.Resources = call.Resources[:0]
				if _, err := h.svc.Encrypt(bg, call, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Constraint keys that differ only by case make Equals compare both ways.
func TestEqualsConstraintWithKeysDifferingByCase(t *testing.T) {
	g := compileGrant(&grantRecord{Constraint: constraintEquals, Context: map[string]string{"a": "1", "A": "1"}})
	for _, tc := range []struct {
		ec   map[string]string
		want bool
	}{
		{map[string]string{"a": "1", "A": "1"}, true},
		{map[string]string{"a": "1", "b": "1"}, false},
		{map[string]string{"a": "1"}, false},
		{map[string]string{"a": "1", "A": "2"}, false},
	} {
		if got := g.contextHolds(tc.ec); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.ec, got, tc.want)
		}
	}
	if !compileGrant(&grantRecord{Constraint: constraintEquals, Context: map[string]string{"Dept": "IT"}}).contextHolds(map[string]string{"DEPT": "IT"}) {
		t.Error("constraint keys must match without regard to case")
	}
}
