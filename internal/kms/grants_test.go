package kms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// Accounts and principals of the grant tests.
const (
	gAcctA   = "111122223333" // owns the keys
	gAcctB   = "444455556666" // another account
	gRegion  = "us-east-1"
	gAliceA  = "arn:aws:iam::111122223333:user/alice"
	gBobB    = "arn:aws:iam::444455556666:user/bob"
	gCarolB  = "arn:aws:iam::444455556666:user/carol"
	gRootA   = "arn:aws:iam::111122223333:root"
	gRootB   = "arn:aws:iam::444455556666:root"
	gRoleB   = "arn:aws:iam::444455556666:role/team/app"
	gSession = "arn:aws:sts::444455556666:assumed-role/app/s1"
)

// asPrincipal is a call by an IAM principal ARN (root, user or session).
func asPrincipal(arn string) *Call {
	account := principalAccount(arn)
	c := Caller{AccountID: account, Region: gRegion, ARN: arn, Type: "IAMUser"}
	switch {
	case strings.HasSuffix(arn, ":root"):
		c.Type = "Root"
	case strings.Contains(arn, ":assumed-role/"):
		c.Type = "AssumedRole"
	}
	return &Call{Caller: c}
}

// grantAuthz stands in for the policy authorizer: the root of a key's
// account may do anything with the key, every other caller only what a
// grant allows. It keeps the last request of each action.
type grantAuthz struct {
	mu   sync.Mutex
	last map[string]AuthzRequest
}

func (a *grantAuthz) Authorize(_ context.Context, r *AuthzRequest) error {
	a.mu.Lock()
	if a.last == nil {
		a.last = make(map[string]AuthzRequest)
	}
	a.last[r.Action] = *r
	a.mu.Unlock()
	if r.Key == nil || r.GrantAllows || r.Caller.ARN == "arn:aws:iam::"+r.Key.AccountID+":root" {
		return nil
	}
	return AccessDenied(r.Caller, r.Action, r.Key.ARN, "because no grant allows the "+r.Action+" action")
}

func (a *grantAuthz) request(action string) AuthzRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last[action]
}

type grantHarness struct {
	*harness
	authz *grantAuthz
}

func newGrantHarness(t testing.TB) *grantHarness {
	h := &grantHarness{
		harness: &harness{dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		authz:   &grantAuthz{},
	}
	h.openWith(t)
	return h
}

func (h *grantHarness) openWith(t testing.TB) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(h.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(h.dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Store: st, Sealer: sl, Authorizer: h.authz, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.svc = st, svc
	t.Cleanup(func() { _ = st.Close() })
}

func (h *grantHarness) restart(t testing.TB) {
	t.Helper()
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	h.openWith(t)
}

var bg = context.Background()

// newKey creates a key of a spec and usage in account A and returns its ARN.
func (h *grantHarness) newKey(t testing.TB, spec, usage string) string {
	t.Helper()
	out, err := h.svc.CreateKey(bg, asPrincipal(gRootA), &kmsapi.CreateKeyInput{KeySpec: kmsapi.KeySpec(spec), KeyUsage: kmsapi.KeyUsageType(usage)})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata.Arn
}

func (h *grantHarness) symmetricKey(t testing.TB) string { return h.newKey(t, "", "") }

func ops(names ...string) []kmsapi.GrantOperation {
	return enumList[kmsapi.GrantOperation](names)
}

// grant creates a grant as the key's account root and returns its id and token.
func (h *grantHarness) grant(t testing.TB, in *kmsapi.CreateGrantInput) (string, string) {
	t.Helper()
	out, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), in)
	if err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return out.GrantId, out.GrantToken
}

func (h *grantHarness) encrypt(by, key string, ec map[string]string) error {
	_, err := h.svc.Encrypt(bg, asPrincipal(by), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("secret"), EncryptionContext: ec})
	return err
}

func wantGrantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || kmserr.CodeOf(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestCreateListRetireRevokeGrant(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, token := h.grant(t, &kmsapi.CreateGrantInput{
		KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "bob-crypto",
		Operations:  ops("Encrypt", "Decrypt", "DescribeKey"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"Department": "IT"}},
	})
	if !validGrantID(id) {
		t.Fatalf("GrantId %q is not 64 hex digits", id)
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(token) < 100 {
		t.Fatalf("GrantToken %q is not long base64url", token)
	}

	out, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	if err != nil || len(out.Grants) != 1 || *out.Truncated {
		t.Fatalf("ListGrants: %v %+v", err, out)
	}
	g := out.Grants[0]
	want := kmsapi.GrantListEntry{
		KeyId: key, GrantId: id, Name: "bob-crypto", CreationDate: kmsapi.Time(h.clock.Now()),
		GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, IssuingAccount: gRootA,
		Operations:  ops("Encrypt", "Decrypt", "DescribeKey"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"Department": "IT"}},
	}
	if jsonOf(t, g) != jsonOf(t, want) {
		t.Fatalf("grant entry\n got %+v\nwant %+v", g, want)
	}

	// Bob, in another account, may now encrypt and describe, and nothing else.
	if err := h.encrypt(gBobB, key, map[string]string{"Department": "IT"}); err != nil {
		t.Fatalf("grantee Encrypt: %v", err)
	}
	if _, err := h.svc.DescribeKey(bg, asPrincipal(gBobB), &kmsapi.DescribeKeyInput{KeyId: key}); err != nil {
		t.Fatalf("grantee DescribeKey: %v", err)
	}
	_, err = h.svc.GenerateDataKey(bg, asPrincipal(gBobB), &kmsapi.GenerateDataKeyInput{KeyId: key, KeySpec: "AES_256", EncryptionContext: map[string]string{"Department": "IT"}})
	wantGrantCode(t, err, kmserr.AccessDenied)
	wantGrantCode(t, h.encrypt(gCarolB, key, map[string]string{"Department": "IT"}), kmserr.AccessDenied)

	// The grantee may not retire a grant that does not allow RetireGrant,
	// nor revoke it; the retiring principal may retire it.
	_, err = h.svc.RetireGrant(bg, asPrincipal(gBobB), &kmsapi.RetireGrantInput{KeyId: key, GrantId: id})
	wantGrantCode(t, err, kmserr.AccessDenied)
	_, err = h.svc.RevokeGrant(bg, asPrincipal(gBobB), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: id})
	wantGrantCode(t, err, kmserr.AccessDenied)
	if _, err := h.svc.RetireGrant(bg, asPrincipal(gCarolB), &kmsapi.RetireGrantInput{KeyId: key, GrantId: id}); err != nil {
		t.Fatalf("RetireGrant by the retiring principal: %v", err)
	}
	wantGrantCode(t, h.encrypt(gBobB, key, map[string]string{"Department": "IT"}), kmserr.AccessDenied)
	_, err = h.svc.RetireGrant(bg, asPrincipal(gCarolB), &kmsapi.RetireGrantInput{GrantToken: token})
	wantGrantCode(t, err, kmserr.NotFound)

	// Revoke: the next request already fails.
	id2, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	if err := h.encrypt(gBobB, key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: id2}); err != nil {
		t.Fatal(err)
	}
	wantGrantCode(t, h.encrypt(gBobB, key, nil), kmserr.AccessDenied)
	_, err = h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: id2})
	wantGrantCode(t, err, kmserr.NotFound)
	_, err = h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: "not-a-grant"})
	wantGrantCode(t, err, kmserr.InvalidGrantID)
	out, _ = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	if len(out.Grants) != 0 {
		t.Fatalf("grants left: %+v", out.Grants)
	}
}

func TestGrantNameIdempotency(t *testing.T) {
	h := newGrantHarness(t)
	key, other := h.symmetricKey(t), h.symmetricKey(t)
	in := func(name string, o ...string) *kmsapi.CreateGrantInput {
		return &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops(o...), Name: name,
			Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}}
	}
	id, tok1 := h.grant(t, in("n1", "Encrypt", "Decrypt"))
	id2, tok2 := h.grant(t, in("n1", "Decrypt", "Encrypt", "Decrypt"))
	if id2 != id || tok1 == tok2 {
		t.Fatalf("retry: ids %s %s, tokens equal %v; want the same id and a new token", id, id2, tok1 == tok2)
	}
	differ := []*kmsapi.CreateGrantInput{
		in("n1", "Encrypt"),
		in("n2", "Encrypt", "Decrypt"),
		{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt", "Decrypt"), Name: "n1"},
		{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt", "Decrypt"), Name: "n1", Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"A": "1"}}},
		{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt", "Decrypt"), Name: "n1", Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}},
		{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Operations: ops("Encrypt", "Decrypt"), Name: "n1", Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}},
		{KeyId: other, GranteePrincipal: gBobB, Operations: ops("Encrypt", "Decrypt"), Name: "n1", Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}},
	}
	seen := map[string]bool{id: true}
	for i, d := range differ {
		gid, _ := h.grant(t, d)
		if seen[gid] {
			t.Errorf("case %d: same name with other parameters returned an existing grant", i)
		}
		seen[gid] = true
	}
	// Without a name every request is a new grant.
	a, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	b, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	if a == b {
		t.Fatal("two unnamed grants share an id")
	}
	// Both tokens of the retried grant identify it; the first retires it.
	if _, err := h.svc.RetireGrant(bg, asPrincipal(gRootA), &kmsapi.RetireGrantInput{GrantToken: tok2}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.RetireGrant(bg, asPrincipal(gRootA), &kmsapi.RetireGrantInput{GrantToken: tok1})
	wantGrantCode(t, err, kmserr.NotFound)
	// Once retired, the same request makes a new grant.
	if id3, _ := h.grant(t, in("n1", "Encrypt", "Decrypt")); id3 == id {
		t.Fatal("a retired grant came back")
	}
}

func TestGrantConstraints(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	equals := map[string]string{"Department": "IT", "Project": "X"}
	cases := []struct {
		name   string
		ec     map[string]string
		equals bool // allowed under EncryptionContextEquals
		subset bool // allowed under EncryptionContextSubset
	}{
		{"same pairs", map[string]string{"Department": "IT", "Project": "X"}, true, true},
		{"other order", map[string]string{"Project": "X", "Department": "IT"}, true, true},
		{"extra pair", map[string]string{"Department": "IT", "Project": "X", "Stage": "prod"}, false, true},
		{"missing pair", map[string]string{"Department": "IT"}, false, false},
		{"no context", nil, false, false},
		{"empty context", map[string]string{}, false, false},
		{"value case differs", map[string]string{"Department": "it", "Project": "X"}, false, false},
		{"key case differs", map[string]string{"department": "IT", "PROJECT": "X"}, true, true},
		{"other value", map[string]string{"Department": "HR", "Project": "X"}, false, false},
		{"pair replaced", map[string]string{"Department": "IT", "Stage": "X"}, false, false},
	}
	for _, kind := range []string{"equals", "subset"} {
		h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: "arn:aws:iam::444455556666:user/" + kind,
			Operations: ops("Encrypt", "Decrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey"),
			Constraints: map[string]*kmsapi.GrantConstraints{
				"equals": {EncryptionContextEquals: equals},
				"subset": {EncryptionContextSubset: equals},
			}[kind]})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for kind, allowed := range map[string]bool{"equals": tc.equals, "subset": tc.subset} {
				who := "arn:aws:iam::444455556666:user/" + kind
				err := h.encrypt(who, key, tc.ec)
				if (err == nil) != allowed {
					t.Errorf("%s: Encrypt with %v: %v, want allowed=%v", kind, tc.ec, err, allowed)
				}
				_, err = h.svc.GenerateDataKey(bg, asPrincipal(who), &kmsapi.GenerateDataKeyInput{KeyId: key, KeySpec: "AES_256", EncryptionContext: tc.ec})
				if (err == nil) != allowed {
					t.Errorf("%s: GenerateDataKey with %v: %v, want allowed=%v", kind, tc.ec, err, allowed)
				}
				if !allowed {
					wantGrantCode(t, err, kmserr.AccessDenied)
				}
				// The constraint does not apply to DescribeKey.
				if _, err := h.svc.DescribeKey(bg, asPrincipal(who), &kmsapi.DescribeKeyInput{KeyId: key}); err != nil {
					t.Errorf("%s: DescribeKey: %v", kind, err)
				}
			}
		})
	}
	// Decrypt and ReEncrypt apply the constraint to their own contexts.
	blob, err := h.svc.Encrypt(bg, asPrincipal(gRootA), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), EncryptionContext: map[string]string{"Department": "IT"}})
	if err != nil {
		t.Fatal(err)
	}
	subsetUser := asPrincipal("arn:aws:iam::444455556666:user/subset")
	_, err = h.svc.Decrypt(bg, subsetUser, &kmsapi.DecryptInput{CiphertextBlob: blob.CiphertextBlob, KeyId: key, EncryptionContext: map[string]string{"Department": "IT"}})
	wantGrantCode(t, err, kmserr.AccessDenied)
	blob, _ = h.svc.Encrypt(bg, asPrincipal(gRootA), &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), EncryptionContext: equals})
	if _, err := h.svc.Decrypt(bg, subsetUser, &kmsapi.DecryptInput{CiphertextBlob: blob.CiphertextBlob, KeyId: key, EncryptionContext: equals}); err != nil {
		t.Fatalf("Decrypt under the subset grant: %v", err)
	}
	_, err = h.svc.ReEncrypt(bg, subsetUser, &kmsapi.ReEncryptInput{CiphertextBlob: blob.CiphertextBlob, SourceKeyId: key, SourceEncryptionContext: equals, DestinationKeyId: key})
	wantGrantCode(t, err, kmserr.AccessDenied) // the destination context is empty
	if _, err := h.svc.ReEncrypt(bg, subsetUser, &kmsapi.ReEncryptInput{CiphertextBlob: blob.CiphertextBlob, SourceKeyId: key, SourceEncryptionContext: equals, DestinationKeyId: key, DestinationEncryptionContext: equals}); err != nil {
		t.Fatalf("ReEncrypt under the subset grant: %v", err)
	}

	// An empty EncryptionContextEquals allows exactly an empty context.
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{}}})
	if err := h.encrypt(gCarolB, key, nil); err != nil {
		t.Fatalf("empty Equals, no context: %v", err)
	}
	wantGrantCode(t, h.encrypt(gCarolB, key, map[string]string{"a": "b"}), kmserr.AccessDenied)
}

func TestGrantOperationsAndConstraintsByKeyType(t *testing.T) {
	h := newGrantHarness(t)
	sym := h.symmetricKey(t)
	rsa := h.newKey(t, "RSA_2048", "ENCRYPT_DECRYPT")
	ecc := h.newKey(t, "ECC_NIST_P256", "SIGN_VERIFY")
	hmac := h.newKey(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	agree := h.newKey(t, "ECC_NIST_P256", "KEY_AGREEMENT")
	ec := map[string]string{"a": "b"}
	cases := []struct {
		key  string
		ops  []string
		cons *kmsapi.GrantConstraints
		err  string // "" for success
	}{
		{sym, []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "DescribeKey", "CreateGrant", "RetireGrant"}, nil, ""},
		{sym, []string{"Decrypt", "DescribeKey", "RetireGrant", "CreateGrant"}, &kmsapi.GrantConstraints{EncryptionContextSubset: ec}, ""},
		{sym, []string{"Encrypt", "Sign"}, nil, kmserr.Validation},
		{sym, []string{"GetPublicKey"}, nil, kmserr.Validation},
		{sym, []string{"GenerateMac"}, nil, kmserr.Validation},
		{rsa, []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey", "DescribeKey"}, nil, ""},
		{rsa, []string{"GenerateDataKey"}, nil, kmserr.Validation},
		{rsa, []string{"Sign"}, nil, kmserr.Validation},
		{rsa, []string{"Decrypt"}, &kmsapi.GrantConstraints{EncryptionContextEquals: ec}, kmserr.Validation},
		{rsa, []string{"DescribeKey"}, &kmsapi.GrantConstraints{EncryptionContextSubset: ec}, kmserr.Validation},
		{ecc, []string{"Sign", "Verify", "GetPublicKey"}, nil, ""},
		{ecc, []string{"Encrypt"}, nil, kmserr.Validation},
		{ecc, []string{"GenerateDataKeyPair"}, nil, kmserr.Validation},
		{hmac, []string{"GenerateMac", "VerifyMac", "DescribeKey"}, nil, ""},
		{hmac, []string{"GetPublicKey"}, nil, kmserr.Validation},
		{hmac, []string{"GenerateMac"}, &kmsapi.GrantConstraints{EncryptionContextSubset: ec}, kmserr.Validation},
		{agree, []string{"DeriveSharedSecret", "GetPublicKey"}, nil, ""},
		{agree, []string{"Sign"}, nil, kmserr.Validation},
		{sym, []string{"Encrypt"}, &kmsapi.GrantConstraints{EncryptionContextSubset: ec, EncryptionContextEquals: map[string]string{}}, ""},
		{sym, []string{"Encrypt"}, &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"1": "", "2": "", "3": "", "4": "", "5": "", "6": "", "7": "", "8": "", "9": ""}}, kmserr.Validation},
		{sym, []string{"Encrypt"}, &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"a": strings.Repeat("v", 385)}}, kmserr.Validation},
		{sym, []string{}, nil, kmserr.Validation},
	}
	for i, tc := range cases {
		_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: tc.key, GranteePrincipal: gBobB, Operations: ops(tc.ops...), Constraints: tc.cons})
		if tc.err == "" && err != nil || tc.err != "" && kmserr.CodeOf(err) != tc.err {
			t.Errorf("case %d (%v on %s): got %v, want %q", i, tc.ops, tc.key[len(tc.key)-8:], err, tc.err)
		}
	}
	_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: sym, GranteePrincipal: gBobB, Operations: ops("Encrypt"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextSubset: ec, EncryptionContextEquals: ec}})
	if err == nil || err.Error() != "ValidationException: More than one constraint supplied" {
		t.Errorf("both constraints: %v", err)
	}
	_, err = h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: sym, GranteePrincipal: gBobB, Operations: ops("Sign", "Encrypt", "Verify")})
	if err == nil || !strings.HasPrefix(err.Error(), "ValidationException: Grant operations [Sign, Verify] are not valid") {
		t.Errorf("invalid operations: %v", err)
	}

	// A grant for a signing key allows exactly its operations.
	dave := asPrincipal("arn:aws:iam::444455556666:user/dave")
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: ecc, GranteePrincipal: dave.Caller.ARN, Operations: ops("Sign")})
	if _, err := h.svc.Sign(bg, dave, &kmsapi.SignInput{KeyId: ecc, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"}); err != nil {
		t.Fatalf("Sign under a grant: %v", err)
	}
	_, err = h.svc.GetPublicKey(bg, dave, &kmsapi.GetPublicKeyInput{KeyId: ecc})
	wantGrantCode(t, err, kmserr.AccessDenied)
}

func TestGrantPrincipals(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	valid := []string{gRootB, gBobB, "arn:aws:iam::444455556666:user/path/to/bob", gRoleB, gSession,
		"arn:aws:sts::444455556666:federated-user/fed", "arn:aws-cn:iam::444455556666:user/bob", "arn:aws-us-gov:iam::444455556666:role/r"}
	for _, p := range valid {
		if _, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: p, RetiringPrincipal: p, Operations: ops("Encrypt")}); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	invalid := []string{"bob", "444455556666", "arn:aws:iam::444455556666:group/admins", "arn:aws:iam::4444:user/bob",
		"arn:aws:iam::444455556666:user/", "arn:aws:s3:::bucket", "arn:aws:iam:us-east-1:444455556666:user/bob",
		"arn:aws:sts::444455556666:assumed-role/app", "arn:aws:kms:us-east-1:444455556666:key/x"}
	for _, p := range invalid {
		_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: p, Operations: ops("Encrypt")})
		if err == nil || err.Error() != "InvalidArnException: ARN does not refer to a valid principal: "+p {
			t.Errorf("grantee %q: %v", p, err)
		}
		_, err = h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: p, Operations: ops("Encrypt")})
		wantGrantCode(t, err, kmserr.InvalidArn)
	}
	for _, in := range []*kmsapi.CreateGrantInput{
		{KeyId: key, Operations: ops("Encrypt")},
		{KeyId: key, GranteePrincipal: gBobB, GranteeServicePrincipal: "logs.amazonaws.com", Operations: ops("Encrypt")},
		{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gBobB, RetiringServicePrincipal: "logs.amazonaws.com", Operations: ops("Encrypt")},
		{KeyId: key, GranteeServicePrincipal: "logs.amazonaws.com", RetiringPrincipal: gRootA, Operations: ops("Encrypt")},
		{KeyId: key, GranteeServicePrincipal: "logs.amazonaws.com", Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{SourceArn: "arn:aws:logs:us-east-1:111122223333:log-group:x"}},
	} {
		_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), in)
		wantGrantCode(t, err, kmserr.Validation)
	}
	_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteeServicePrincipal: "Logs_AmazonAWS", RetiringPrincipal: gRootA, Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{SourceArn: "arn:aws:logs:us-east-1:111122223333:log-group:x"}})
	wantGrantCode(t, err, kmserr.InvalidArn)

	// A service-principal grant is listed with both principal fields, and
	// grants nothing to a caller that is no service acting for SourceArn.
	sid, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteeServicePrincipal: "logs.amazonaws.com", RetiringServicePrincipal: "logs.amazonaws.com",
		Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{SourceArn: "arn:aws:logs:us-east-1:111122223333:log-group:x"}})
	out, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GrantId: sid})
	if err != nil || len(out.Grants) != 1 {
		t.Fatalf("ListGrants by id: %v %+v", err, out)
	}
	e := out.Grants[0]
	if e.GranteePrincipal != "logs.amazonaws.com" || e.GranteeServicePrincipal != "logs.amazonaws.com" || e.RetiringServicePrincipal != "logs.amazonaws.com" || e.Constraints.SourceArn == "" {
		t.Fatalf("service grant entry %+v", e)
	}
	if err := h.encrypt("logs.amazonaws.com", key, nil); err == nil {
		t.Fatal("a SourceArn grant allowed a request made for no resource")
	}
	out, _ = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GranteeServicePrincipal: "logs.amazonaws.com"})
	if len(out.Grants) != 1 {
		t.Fatalf("GranteeServicePrincipal filter: %+v", out.Grants)
	}
}

func TestGrantsForRolesAndSessions(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	// A grant to a role (with a path) applies to every session of it.
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gRoleB, Operations: ops("Encrypt")})
	for _, s := range []string{gSession, "arn:aws:sts::444455556666:assumed-role/app/other"} {
		if err := h.encrypt(s, key, nil); err != nil {
			t.Errorf("session %s: %v", s, err)
		}
	}
	for _, s := range []string{"arn:aws:sts::444455556666:assumed-role/app2/s1", "arn:aws:sts::111122223333:assumed-role/app/s1", "arn:aws:iam::444455556666:user/app"} {
		wantGrantCode(t, h.encrypt(s, key, nil), kmserr.AccessDenied)
	}
	// A grant to one session applies to that session alone.
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gSession, Operations: ops("GenerateDataKey")})
	gen := func(who string) error {
		_, err := h.svc.GenerateDataKey(bg, asPrincipal(who), &kmsapi.GenerateDataKeyInput{KeyId: key, KeySpec: "AES_256"})
		return err
	}
	if err := gen(gSession); err != nil {
		t.Fatal(err)
	}
	wantGrantCode(t, gen("arn:aws:sts::444455556666:assumed-role/app/other"), kmserr.AccessDenied)
	// An account-root grantee is the root user, not every principal of it.
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gRootB, Operations: ops("Decrypt", "Encrypt")})
	if err := h.encrypt(gRootB, key, nil); err != nil {
		t.Fatal(err)
	}
	wantGrantCode(t, h.encrypt(gCarolB, key, nil), kmserr.AccessDenied)
}

func TestRetireGrantRules(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	type who struct {
		name   string
		caller string
		ok     bool
	}
	cases := []struct {
		name string
		in   *kmsapi.CreateGrantInput
		by   []who
	}{
		{"retiring principal", &kmsapi.CreateGrantInput{GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Operations: ops("Encrypt")},
			[]who{{"grantee without RetireGrant", gBobB, false}, {"stranger", "arn:aws:iam::444455556666:user/eve", false}, {"retiring principal", gCarolB, true}}},
		{"grantee with RetireGrant", &kmsapi.CreateGrantInput{GranteePrincipal: gBobB, Operations: ops("Encrypt", "RetireGrant"), Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}},
			[]who{{"grantee, constraint ignored", gBobB, true}}},
		{"retiring role", &kmsapi.CreateGrantInput{GranteePrincipal: gBobB, RetiringPrincipal: gRoleB, Operations: ops("Encrypt")},
			[]who{{"session of the role", gSession, true}}},
		{"issuing account", &kmsapi.CreateGrantInput{GranteePrincipal: gBobB, Operations: ops("Encrypt")},
			[]who{{"grantee", gBobB, false}, {"root of another account", gRootB, false}, {"root of the issuing account", gRootA, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.KeyId = key
			id, _ := h.grant(t, tc.in)
			for _, w := range tc.by {
				_, err := h.svc.RetireGrant(bg, asPrincipal(w.caller), &kmsapi.RetireGrantInput{KeyId: key, GrantId: id})
				if w.ok && err != nil || !w.ok && kmserr.CodeOf(err) != kmserr.AccessDenied {
					t.Errorf("%s: %v, want ok=%v", w.name, err, w.ok)
				}
			}
			if r := h.authz.request("kms:RetireGrant"); r.Key == nil || r.Key.ARN != key {
				t.Errorf("RetireGrant authorized against %+v", r.Key)
			}
		})
	}
}

func TestGrantTokens(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, token := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gBobB, Operations: ops("Encrypt")})
	bob := asPrincipal(gBobB)
	// The token is accepted, and not needed.
	if _, err := h.svc.Encrypt(bg, bob, &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), GrantTokens: []string{token}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	flipped := slices.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	otherGrant := slices.Clone(raw)
	otherGrant[len(otherGrant)-grantTokenTag-grantTokenNonce-1] ^= 1
	for _, bad := range []string{"AQpA", "not base64!", base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), strings.Repeat("A", 200)} {
		_, err := h.svc.Encrypt(bg, bob, &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), GrantTokens: []string{token, bad}})
		wantGrantCode(t, err, kmserr.InvalidGrantToken)
		_, err = h.svc.RetireGrant(bg, bob, &kmsapi.RetireGrantInput{GrantToken: bad})
		wantGrantCode(t, err, kmserr.InvalidGrantToken)
	}
	// A token whose tag does not verify names no grant.
	_, err := h.svc.RetireGrant(bg, bob, &kmsapi.RetireGrantInput{GrantToken: base64.RawURLEncoding.EncodeToString(flipped)})
	wantGrantCode(t, err, kmserr.InvalidGrantToken)
	_, err = h.svc.RetireGrant(bg, bob, &kmsapi.RetireGrantInput{GrantToken: base64.RawURLEncoding.EncodeToString(otherGrant)})
	wantGrantCode(t, err, kmserr.NotFound)
	_, err = h.svc.Encrypt(bg, bob, &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), GrantTokens: make([]string, 11)})
	wantGrantCode(t, err, kmserr.Validation)
	_, err = h.svc.Encrypt(bg, bob, &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), GrantTokens: []string{strings.Repeat("A", 8193)}})
	wantGrantCode(t, err, kmserr.Validation)
	_, err = h.svc.RetireGrant(bg, bob, &kmsapi.RetireGrantInput{GrantToken: token, GrantId: strings.Repeat("0", 64)})
	wantGrantCode(t, err, kmserr.InvalidGrantToken)
	_, err = h.svc.RetireGrant(bg, bob, &kmsapi.RetireGrantInput{})
	wantGrantCode(t, err, kmserr.Validation)
	// A token issued in another Region is not this Region's.
	west := asPrincipal(gBobB)
	west.Caller.Region = "us-west-2"
	_, err = h.svc.RetireGrant(bg, west, &kmsapi.RetireGrantInput{GrantToken: token})
	wantGrantCode(t, err, kmserr.InvalidGrantToken)
	// The token alone retires the grant, with the key ARN in the audit resources.
	c := asPrincipal(gBobB)
	if _, err := h.svc.RetireGrant(bg, c, &kmsapi.RetireGrantInput{GrantToken: token, KeyId: key, GrantId: id}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Resources, []string{key}) {
		t.Fatalf("audit resources %v", c.Resources)
	}
	wantGrantCode(t, h.encrypt(gBobB, key, nil), kmserr.AccessDenied)
	if _, err := h.svc.Encrypt(bg, bob, &kmsapi.EncryptInput{KeyId: key, Plaintext: []byte("x"), GrantTokens: []string{token}}); kmserr.CodeOf(err) != kmserr.AccessDenied {
		t.Fatalf("the token of a retired grant: %v", err)
	}
}

func TestGrantDerivedCreateGrant(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Decrypt", "GenerateDataKey", "CreateGrant"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"Department": "IT"}}})
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Decrypt", "CreateGrant"),
		Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"Department": "IT"}}})
	child := func(by string, o []string, c *kmsapi.GrantConstraints) error {
		_, err := h.svc.CreateGrant(bg, asPrincipal(by), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: "arn:aws:iam::444455556666:user/dave", Operations: ops(o...), Constraints: c})
		return err
	}
	sub := func(m map[string]string) *kmsapi.GrantConstraints {
		return &kmsapi.GrantConstraints{EncryptionContextSubset: m}
	}
	eq := func(m map[string]string) *kmsapi.GrantConstraints {
		return &kmsapi.GrantConstraints{EncryptionContextEquals: m}
	}
	cases := []struct {
		by  string
		ops []string
		c   *kmsapi.GrantConstraints
		ok  bool
	}{
		{gBobB, []string{"Decrypt"}, sub(map[string]string{"Department": "IT"}), true},
		{gBobB, []string{"Decrypt", "CreateGrant"}, sub(map[string]string{"Department": "IT", "Project": "X"}), true},
		{gBobB, []string{"GenerateDataKey"}, eq(map[string]string{"Department": "IT", "Project": "X"}), true},
		{gBobB, []string{"Decrypt"}, nil, false},
		{gBobB, []string{"Decrypt"}, sub(map[string]string{"Project": "X"}), false},
		{gBobB, []string{"Decrypt"}, sub(map[string]string{"Department": "HR"}), false},
		{gBobB, []string{"Encrypt"}, sub(map[string]string{"Department": "IT"}), false},
		{gBobB, []string{"Decrypt", "ReEncryptFrom"}, sub(map[string]string{"Department": "IT"}), false},
		{gCarolB, []string{"Decrypt"}, eq(map[string]string{"Department": "IT"}), true},
		{gCarolB, []string{"Decrypt"}, eq(map[string]string{"Department": "IT", "Project": "X"}), false},
		{gCarolB, []string{"Decrypt"}, sub(map[string]string{"Department": "IT"}), false},
		{gCarolB, []string{"GenerateDataKey"}, eq(map[string]string{"Department": "IT"}), false},
		{"arn:aws:iam::444455556666:user/eve", []string{"Decrypt"}, eq(map[string]string{"Department": "IT"}), false},
	}
	for i, tc := range cases {
		err := child(tc.by, tc.ops, tc.c)
		if tc.ok && err != nil || !tc.ok && kmserr.CodeOf(err) != kmserr.AccessDenied {
			t.Errorf("case %d: %v, want ok=%v", i, err, tc.ok)
		}
	}
}

func TestCreateGrantConditionKeys(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, token := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB,
		Operations: ops("Encrypt", "Decrypt"), GrantTokens: []string{}, Constraints: &kmsapi.GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}}})
	r := h.authz.request("kms:CreateGrant")
	want := map[string][]string{
		"kms:grantoperations":       {"Encrypt", "Decrypt"},
		"kms:granteeprincipal":      {gBobB},
		"kms:retiringprincipal":     {gCarolB},
		"kms:grantisforawsresource": {"false"},
		"kms:grantconstrainttype":   {"EncryptionContextSubset"},
	}
	if fmt.Sprint(r.Conditions) != fmt.Sprint(want) || r.EncryptionContext["Dept"] != "IT" || r.Key == nil || r.Key.ARN != key {
		t.Fatalf("CreateGrant request: %+v", r)
	}
	if _, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: id, DryRun: kmsapi.Bool(true)}); kmserr.CodeOf(err) != kmserr.DryRunOperation {
		t.Fatalf("RevokeGrant DryRun: %v", err)
	}
	for _, action := range []string{"kms:ListGrants", "kms:RevokeGrant"} {
		if r := h.authz.request(action); fmt.Sprint(r.Conditions) != "map[kms:grantisforawsresource:[false]]" || r.GrantAllows {
			t.Errorf("%s request conditions %v, grant allows %v", action, r.Conditions, r.GrantAllows)
		}
	}
	// DryRun changes nothing.
	_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt"), DryRun: kmsapi.Bool(true)})
	wantGrantCode(t, err, kmserr.DryRunOperation)
	_, err = h.svc.RetireGrant(bg, asPrincipal(gCarolB), &kmsapi.RetireGrantInput{GrantToken: token, DryRun: kmsapi.Bool(true)})
	wantGrantCode(t, err, kmserr.DryRunOperation)
	out, _ := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	if len(out.Grants) != 1 {
		t.Fatalf("DryRun changed the grants: %d", len(out.Grants))
	}
}

func TestGrantKeyStates(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	root := asPrincipal(gRootA)
	if _, err := h.svc.DisableKey(bg, root, &kmsapi.DisableKeyInput{KeyId: key}); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.CreateGrant(bg, root, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	if err == nil || err.Error() != "DisabledException: "+key+" is disabled." {
		t.Fatalf("CreateGrant on a disabled key: %v", err)
	}
	wantGrantCode(t, h.encrypt(gBobB, key, nil), kmserr.Disabled)
	if out, err := h.svc.ListGrants(bg, root, &kmsapi.ListGrantsInput{KeyId: key}); err != nil || len(out.Grants) != 1 {
		t.Fatalf("ListGrants on a disabled key: %v", err)
	}
	if _, err := h.svc.ScheduleKeyDeletion(bg, root, &kmsapi.ScheduleKeyDeletionInput{KeyId: key, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.CreateGrant(bg, root, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	if err == nil || err.Error() != "KMSInvalidStateException: "+key+" is pending deletion." {
		t.Fatalf("CreateGrant on a key pending deletion: %v", err)
	}
	if _, err := h.svc.RevokeGrant(bg, root, &kmsapi.RevokeGrantInput{KeyId: key, GrantId: id}); err != nil {
		t.Fatalf("RevokeGrant on a key pending deletion: %v", err)
	}
}

func TestListGrantsPages(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	var ids []string
	for i := range 23 {
		grantee := gBobB
		if i%3 == 0 {
			grantee = gCarolB
		}
		id, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: grantee, Operations: ops("Encrypt")})
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		out, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Limit: kmsapi.Int32(5), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			got = append(got, g.GrantId)
		}
		if !*out.Truncated {
			if out.NextMarker != "" || pages != 4 {
				t.Fatalf("last page: marker %q after %d pages", out.NextMarker, pages)
			}
			break
		}
		marker = out.NextMarker
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("pages returned %d grants, want %d in id order", len(got), len(ids))
	}
	out, _ := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GranteePrincipal: gCarolB, Limit: kmsapi.Int32(100)})
	if len(out.Grants) != 8 {
		t.Fatalf("GranteePrincipal filter: %d grants, want 8", len(out.Grants))
	}
	out, _ = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Limit: kmsapi.Int32(1000)})
	if len(out.Grants) != 23 {
		t.Fatalf("Limit 1000: %d", len(out.Grants))
	}
	_, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, Marker: "bogus"})
	wantGrantCode(t, err, kmserr.InvalidMarker)
	_, err = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key, GrantId: "nope"})
	wantGrantCode(t, err, kmserr.InvalidGrantID)
	_, err = h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: "alias/x"})
	wantGrantCode(t, err, kmserr.InvalidArn) // ListGrants takes no alias
}

func TestListRetirableGrantsAcrossKeysAndAccounts(t *testing.T) {
	h := newGrantHarness(t)
	keyA1, keyA2 := h.symmetricKey(t), h.symmetricKey(t)
	outB, err := h.svc.CreateKey(bg, asPrincipal(gRootB), &kmsapi.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyB := outB.KeyMetadata.Arn
	retiring := "arn:aws:iam::444455556666:user/retirer"
	want := map[string]string{}
	for _, k := range []string{keyA1, keyA2, keyA1} {
		id, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: k, GranteePrincipal: gBobB, RetiringPrincipal: retiring, Operations: ops("Encrypt")})
		want[id] = k
	}
	out, err := h.svc.CreateGrant(bg, asPrincipal(gRootB), &kmsapi.CreateGrantInput{KeyId: keyB, GranteePrincipal: gCarolB, RetiringPrincipal: retiring, Operations: ops("Decrypt")})
	if err != nil {
		t.Fatal(err)
	}
	want[out.GrantId] = keyB
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: keyA2, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Operations: ops("Encrypt")})

	got := map[string]string{}
	marker := ""
	for {
		page, err := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring, Limit: kmsapi.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Grants {
			if g.RetiringPrincipal != retiring {
				t.Fatalf("entry %+v", g)
			}
			got[g.GrantId] = g.KeyId
		}
		if !*page.Truncated {
			break
		}
		marker = page.NextMarker
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("retirable grants\n got %v\nwant %v", got, want)
	}
	// The listed grants are retirable by that principal.
	for id, k := range want {
		if _, err := h.svc.RetireGrant(bg, asPrincipal(retiring), &kmsapi.RetireGrantInput{KeyId: k, GrantId: id}); err != nil {
			t.Fatalf("retire %s: %v", id, err)
		}
	}
	page, _ := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring})
	if len(page.Grants) != 0 {
		t.Fatalf("retired grants still listed: %+v", page.Grants)
	}
	// A principal of another account, or a service principal, is not the caller's to list.
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: retiring})
	wantGrantCode(t, err, kmserr.AccessDenied)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringServicePrincipal: "logs.amazonaws.com"})
	wantGrantCode(t, err, kmserr.AccessDenied)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{})
	wantGrantCode(t, err, kmserr.Validation)
	_, err = h.svc.ListRetirableGrants(bg, asPrincipal(gRootA), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: "nobody"})
	wantGrantCode(t, err, kmserr.InvalidArn)
}

// storedGrants counts what the store holds about grants.
func storedGrants(t *testing.T, st store.Store) (grants, indexes, counters int) {
	t.Helper()
	err := st.View(bg, func(tx store.Tx) error {
		for _, b := range [][]byte{bucketGrants, bucketGrantNames, bucketGrantsRetiring, bucketCounters} {
			kvs, err := tx.Scan(b, nil, nil, 0)
			if err != nil {
				return err
			}
			switch string(b) {
			case string(bucketGrants):
				grants = len(kvs)
			case string(bucketCounters):
				for _, kv := range kvs {
					if strings.Contains(string(kv.Key), "grants/") {
						counters++
					}
				}
			default:
				indexes += len(kvs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestGrantsDeletedWithKey(t *testing.T) {
	h := newGrantHarness(t)
	doomed, kept := h.symmetricKey(t), h.symmetricKey(t)
	for range 3 {
		h.grant(t, &kmsapi.CreateGrantInput{KeyId: doomed, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n", Operations: ops("Encrypt")})
		h.grant(t, &kmsapi.CreateGrantInput{KeyId: doomed, GranteePrincipal: gBobB, RetiringPrincipal: gBobB, Operations: ops("Decrypt")})
	}
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: kept, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n", Operations: ops("Encrypt")})
	// The named grant is made once; the unnamed ones three times.
	if g, i, c := storedGrants(t, h.st); g != 5 || i != 7 || c != 2 {
		t.Fatalf("before: %d grants, %d index entries, %d counters", g, i, c)
	}
	if _, err := h.svc.ScheduleKeyDeletion(bg, asPrincipal(gRootA), &kmsapi.ScheduleKeyDeletionInput{KeyId: doomed, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(8 * 24 * time.Hour)
	if n, err := h.svc.DeleteDueKeys(bg); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys: %d %v", n, err)
	}
	if g, i, c := storedGrants(t, h.st); g != 1 || i != 2 || c != 1 {
		t.Fatalf("after: %d grants, %d index entries, %d counters; want only the kept key's", g, i, c)
	}
	page, err := h.svc.ListRetirableGrants(bg, asPrincipal(gRootB), &kmsapi.ListRetirableGrantsInput{RetiringPrincipal: gCarolB})
	if err != nil || len(page.Grants) != 1 || page.Grants[0].KeyId != kept {
		t.Fatalf("retirable after deletion: %v %+v", err, page)
	}
}

func TestGrantsSurviveRestart(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	id, token := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n",
		Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}})
	before, _ := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	h.restart(t)
	after, err := h.svc.ListGrants(bg, asPrincipal(gRootA), &kmsapi.ListGrantsInput{KeyId: key})
	if err != nil || jsonOf(t, before) != jsonOf(t, after) {
		t.Fatalf("grants changed across a restart:\n%+v\n%+v", before, after)
	}
	if err := h.encrypt(gBobB, key, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if again, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, RetiringPrincipal: gCarolB, Name: "n",
		Operations: ops("Encrypt"), Constraints: &kmsapi.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}}); again != id {
		t.Fatal("name idempotency lost across a restart")
	}
	if _, err := h.svc.RetireGrant(bg, asPrincipal(gCarolB), &kmsapi.RetireGrantInput{GrantToken: token}); err != nil {
		t.Fatalf("retire by a token issued before the restart: %v", err)
	}
}

// TestGrantQuota fills a key to the quota of 50,000 grants, writing all but
// the last through the store in large transactions, then checks that the
// last CreateGrant succeeds and the next one fails.
func TestGrantQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50,000 grants")
	}
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	ref, _ := parseKeyRef(&asPrincipal(gRootA).Caller, key, keyOnly)
	const batch = 10000
	for done := 0; done < grantsPerKey-1; done += batch {
		err := h.st.Update(bg, func(tx store.Tx) error {
			for i := done; i < min(done+batch, grantsPerKey-1); i++ {
				g := &grantRecord{GrantID: newGrantID(), KeyID: ref.keyID, AccountID: gAcctA, Region: gRegion, Created: h.clock.Now(),
					Grantee: fmt.Sprintf("arn:aws:iam::444455556666:user/u%d", i), IssuingAccount: gRootA, Operations: []string{"Encrypt"}, TokenKey: []byte{0}}
				if err := putGrant(tx, g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	h.svc.cache.invalidate(cacheKeyID(gAcctA, gRegion, ref.keyID))
	last, _ := h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gBobB, Operations: ops("Encrypt")})
	_, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt")})
	wantGrantCode(t, err, kmserr.LimitExceeded)
	if err := h.encrypt(gBobB, key, nil); err != nil {
		t.Fatalf("grant 50,000: %v", err)
	}
	if err := h.encrypt("arn:aws:iam::444455556666:user/u49998", key, nil); err != nil {
		t.Fatalf("grant 49,999: %v", err)
	}
	if _, err := h.svc.RevokeGrant(bg, asPrincipal(gRootA), &kmsapi.RevokeGrantInput{KeyId: key, GrantId: last}); err != nil {
		t.Fatal(err)
	}
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gCarolB, Operations: ops("Encrypt")})
}

// TestGrantsUnderConcurrency runs CreateGrant, RetireGrant and Encrypt
// together (run it with -race): every request sees a grant either whole or
// not at all, a retired grant is refused by the next request, and the store
// keeps its count exact.
func TestGrantsUnderConcurrency(t *testing.T) {
	h := newGrantHarness(t)
	key := h.symmetricKey(t)
	const workers, rounds = 6, 15
	h.grant(t, &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: gAliceA, Operations: ops("Encrypt")})
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := fmt.Sprintf("arn:aws:iam::444455556666:user/w%d", w)
			for range rounds {
				out, err := h.svc.CreateGrant(bg, asPrincipal(gRootA), &kmsapi.CreateGrantInput{KeyId: key, GranteePrincipal: who, RetiringPrincipal: who, Operations: ops("Encrypt")})
				if err != nil {
					errs <- err
					return
				}
				if err := h.encrypt(who, key, nil); err != nil {
					errs <- fmt.Errorf("encrypt after create: %w", err)
				}
				if _, err := h.svc.RetireGrant(bg, asPrincipal(who), &kmsapi.RetireGrantInput{GrantToken: out.GrantToken}); err != nil {
					errs <- err
				}
				if err := h.encrypt(who, key, nil); kmserr.CodeOf(err) != kmserr.AccessDenied {
					errs <- fmt.Errorf("encrypt after retire: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // an unrelated grantee keeps using its grant throughout
		defer wg.Done()
		for range workers * rounds {
			if err := h.encrypt(gAliceA, key, nil); err != nil {
				errs <- fmt.Errorf("a standing grant failed: %w", err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g, i, c := storedGrants(t, h.st); g != 1 || i != 0 || c != 1 {
		t.Fatalf("want only the standing grant, have %d grants, %d index entries, %d counters", g, i, c)
	}
}

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
