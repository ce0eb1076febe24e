package kms

import (
	"hash/maphash"
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
