package kms

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/seal"
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
