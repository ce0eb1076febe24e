package kms

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

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
