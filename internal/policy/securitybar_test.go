package policy

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// reorderMembers rewrites a JSON document with the members of every object
// in a random order, arrays and values unchanged.
func reorderMembers(t *testing.T, r *rand.Rand, doc string) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("generated document %s: %v", doc, err)
	}
	var b bytes.Buffer
	writeShuffled(r, &b, v)
	return b.String()
}

func writeShuffled(r *rand.Rand, b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeShuffled(r, b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeShuffled(r, b, e)
		}
		b.WriteByte(']')
	default:
		vb, _ := json.Marshal(x)
		b.Write(vb)
	}
}

// Check 9 of the security bar: the order of the members of the policy
// documents' JSON objects (statement fields, condition operators, keys)
// never changes the decision or its reason.
func TestPropertyMemberOrderIrrelevant(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	changed := 0
	for range propertyRuns {
		s := genScenario(r)
		before := s.decide(t)
		kp, err := ParseKeyPolicy(reorderMembers(t, r, doc(s.key...)))
		if err != nil {
			t.Fatalf("reordered key policy: %v", err)
		}
		var ids []*Policy
		for _, p := range s.identity {
			original := doc(p...)
			reordered := reorderMembers(t, r, original)
			if reordered != original {
				changed++
			}
			ip, err := ParseIdentityPolicy(reordered)
			if err != nil {
				t.Fatalf("reordered identity policy: %v\n%s", err, reordered)
			}
			ids = append(ids, ip)
		}
		req := s.req
		if got := Decide(&req, kp, ids, s.grant); got.Allowed != before.Allowed || got.Reason != before.Reason {
			t.Fatalf("reordering JSON members changed %v to %v\nscenario: %+v", before, got, s)
		}
	}
	if changed == 0 {
		t.Fatal("no document was reordered")
	}
}

// kmsActions are the actions the complement properties ask about.
var kmsActions = []string{"kms:Decrypt", "kms:Encrypt", "kms:GetPublicKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:ReEncryptFrom", "kms:GenerateDataKeyPair", "kms:DescribeKey"}

// Check 9: NotAction is the complement of Action, in an Allow and in a Deny.
func TestPropertyNotActionIsTheComplement(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	everyone := stmt(allow, anyP, kmsAll, anyRes)
	for range propertyRuns {
		as := pickN(r, genActions)
		action := pick(r, kmsActions)
		decide := func(key string) Decision {
			p, err := ParseKeyPolicy(key)
			if err != nil {
				t.Fatalf("%v\n%s", err, key)
			}
			req := alice
			req.Action, req.Resource, req.Time = action, keyARN, reqTime
			return Decide(&req, p, nil, false)
		}
		withA := decide(doc(stmt(allow, awsP(aliceARN), act(as...), anyRes)))
		withNotA := decide(doc(stmt(allow, awsP(aliceARN), notAct(as...), anyRes)))
		if withA.Allowed == withNotA.Allowed {
			t.Fatalf("Allow: Action %v and NotAction %v agree (%v) on %s", as, as, withA.Allowed, action)
		}
		denyA := decide(doc(everyone, stmt(deny, anyP, act(as...), anyRes)))
		denyNotA := decide(doc(everyone, stmt(deny, anyP, notAct(as...), anyRes)))
		if denyA.Allowed == denyNotA.Allowed {
			t.Fatalf("Deny: Action %v and NotAction %v agree (%v) on %s", as, as, denyA.Allowed, action)
		}
	}
}

// identitiesOf are the principals a request of c counts as, for NotPrincipal:
// its own ARN, the role of a session, and its account.
func identitiesOf(c Request) []string {
	ids := []string{c.Principal}
	switch c.Principal {
	case sessARN:
		ids = append(ids, roleARN)
	}
	if c.Account == acctA {
		ids = append(ids, rootAARN, acctA)
	} else {
		ids = append(ids, rootBARN, acctB)
	}
	return ids
}

// Check 9: a Deny with NotPrincipal P is the complement of a Deny with
// Principal P wherever the answer is clear-cut: P names the caller and its
// account (or "*"), so only the Principal form denies; or P names nothing
// the caller counts as, so only the NotPrincipal form denies. (Naming a
// user without its account is AWS's trap, pinned by the decision table.)
func TestPropertyNotPrincipalIsTheComplement(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	everyone := stmt(allow, anyP, kmsAll, anyRes)
	callers := []Request{alice, carol, bob, rootA, rootB, sess, fed}
	covered, missed := 0, 0
	for range propertyRuns {
		ps := pickN(r, genPrincipals)
		c := pick(r, callers)
		ids := identitiesOf(c)
		var cover, miss bool
		switch {
		case slices.Contains(ps, "*"):
			cover = true
		case c.Type == Root:
			cover = slices.Contains(ps, ids[1]) || slices.Contains(ps, ids[2])
		default:
			own := slices.ContainsFunc(ids[:len(ids)-2], func(id string) bool { return slices.Contains(ps, id) })
			cover = own && (slices.Contains(ps, ids[len(ids)-2]) || slices.Contains(ps, ids[len(ids)-1]))
		}
		miss = !slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(ps, id) }) && !slices.Contains(ps, "*")
		if !cover && !miss {
			continue
		}
		decide := func(key string) Decision {
			p, err := ParseKeyPolicy(key)
			if err != nil {
				t.Fatalf("%v\n%s", err, key)
			}
			req := c
			req.Action, req.Resource, req.Time = "kms:Decrypt", keyARN, reqTime
			return Decide(&req, p, nil, false)
		}
		// Callers of another account need identity policies to be allowed,
		// so what is compared is whether the Deny statement applies.
		byP := decide(doc(everyone, stmt(deny, awsP(ps...), kmsAll, anyRes))).Reason == ResourcePolicyDenies
		byNotP := decide(doc(everyone, stmt(deny, notAWS(ps...), kmsAll, anyRes))).Reason == ResourcePolicyDenies
		if cover && (!byP || byNotP) || miss && (byP || !byNotP) {
			t.Fatalf("caller %s, principals %v: the Principal Deny applies: %v, the NotPrincipal Deny applies: %v (cover %v)", c.Principal, ps, byP, byNotP, cover)
		}
		if cover {
			covered++
		} else {
			missed++
		}
	}
	if covered == 0 || missed == 0 {
		t.Fatalf("the generator reached %d covering and %d missing cases", covered, missed)
	}
}
