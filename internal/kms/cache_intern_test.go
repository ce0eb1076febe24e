package kms

import (
	"hash/maphash"
	"maps"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/policy"
)

// TestWeakTableKeepsCollisionsApart: a value under the same key that same
// refuses is neither served nor replaced.
func TestWeakTableKeepsCollisionsApart(t *testing.T) {
	var tb weakTable[int, string]
	a, b := "a", "b"
	got := tb.get(1, func(v *string) bool { return *v == a }, func() *string { return &a })
	if got != &a {
		t.Fatal("first get did not intern its value")
	}
	got = tb.get(1, func(v *string) bool { return *v == b }, func() *string { return &b })
	if got != &b {
		t.Fatalf("a colliding get was served %q", *got)
	}
	if got := tb.get(1, func(v *string) bool { return *v == a }, func() *string { panic("rebuilt") }); got != &a {
		t.Fatal("a collision replaced the interned value")
	}
}

func TestCondsTableInternsByContent(t *testing.T) {
	ct := condsTable{seed: maphash.MakeSeed()}
	x := ct.intern(policy.Context{"kms:keyspec": {"SYMMETRIC_DEFAULT"}, "kms:keyusage": {"ENCRYPT_DECRYPT"}})
	y := ct.intern(policy.Context{"kms:keyusage": {"ENCRYPT_DECRYPT"}, "kms:keyspec": {"SYMMETRIC_DEFAULT"}})
	if x != y {
		t.Fatal("equal condition keys were not shared")
	}
	// The same strings under other keys, or split otherwise, are other conditions.
	for _, c := range []policy.Context{
		{"kms:keyspec": {"ENCRYPT_DECRYPT"}, "kms:keyusage": {"SYMMETRIC_DEFAULT"}},
		{"kms:keyspec": {"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"}},
		{"kms:keyspec": {"SYMMETRIC_DEFAULT"}},
	} {
		if z := ct.intern(c); z == x {
			t.Fatalf("%v shared the conditions of %v", c, x.c)
		}
	}
}

func TestPolicyTableTellsBindingsApart(t *testing.T) {
	pt := policyTable{seed: maphash.MakeSeed()}
	const doc = `{"Version":"2012-10-17","Statement":[]}`
	a := pt.parse(doc, nil)
	if pt.parse(doc, nil) != a {
		t.Fatal("one policy text was parsed twice")
	}
	b := pt.parse(doc, []boundPrincipal{{ARN: "arn:aws:iam::111122223333:user/u", ID: "AIDA1"}})
	if b == a || pt.parse(doc, []boundPrincipal{{ARN: "arn:aws:iam::111122223333:user/u", ID: "AIDA2"}}) == b {
		t.Fatal("policies bound to other principals were shared")
	}
}

// TestForKeyMatchesKeyConditions: the shared condition keys of a record
// are its own (keyConditions and kms:ResourceAliases) whether it takes
// the plain keys' shortcut or not, and plain keys alike share one set.
func TestForKeyMatchesKeyConditions(t *testing.T) {
	ct := condsTable{seed: maphash.MakeSeed()}
	plain := func() *keyRecord {
		return &keyRecord{Origin: "AWS_KMS", KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Region: "us-east-1"}
	}
	tagged, mrk, managed, rsa := plain(), plain(), plain(), plain()
	tagged.Tags = []tagRecord{{Key: "Team", Value: "a"}}
	mrk.MultiRegion, mrk.PrimaryRegion = true, "us-east-1"
	managed.AWSManagedAlias, managed.KeyManager = "alias/aws/s3", managerAWS
	rsa.KeySpec, rsa.KeyUsage = "RSA_2048", "SIGN_VERIFY"
	for _, tc := range []struct {
		name    string
		rec     *keyRecord
		aliases []string
	}{
		{"plain", plain(), nil}, {"aliased", plain(), []string{"alias/a"}}, {"tagged", tagged, nil},
		{"multi-Region", mrk, nil}, {"AWS managed", managed, nil}, {"RSA", rsa, nil}, {"plain again", plain(), nil},
	} {
		want := keyConditions(tc.rec)
		setResourceAliases(want, tc.aliases)
		if got := ct.forKey(tc.rec, tc.aliases).c; !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: conditions %v, want %v", tc.name, got, want)
		}
	}
	if a, b := ct.forKey(plain(), nil), ct.forKey(plain(), nil); a != b {
		t.Error("two plain keys of one spec do not share their conditions")
	}
	if ct.forKey(plain(), nil) == ct.forKey(rsa, nil) {
		t.Error("keys of other specs share their conditions")
	}
}
