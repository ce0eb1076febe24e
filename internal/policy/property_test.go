package policy

import (
	"math/rand/v2"
	"testing"
)

// A seeded generator of random but valid policies and requests, for the
// properties AWS's evaluation logic guarantees whatever the documents say.

var (
	genPrincipals = []string{rootAARN, acctA, aliceARN, carolARN, bobARN, rootBARN, roleARN, sessARN, fedARN, "*"}
	genActions    = []string{"kms:*", "kms:Decrypt", "kms:Encrypt", "kms:Get*", "*", "kms:?ncrypt", "KMS:DECRYPT", "s3:GetObject"}
	genResources  = []string{"*", keyARN, otherKey, "arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:us-east-1:${aws:PrincipalAccount}:key/*"}
	genConds      = []string{
		`{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`,
		`{"StringNotEquals":{"kms:EncryptionContext:dept":"IT"}}`,
		`{"Bool":{"aws:SecureTransport":"false"}}`,
		`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`,
		`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`,
		`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept"]}}`,
		`{"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":"d*"}}`,
		`{"Null":{"kms:ViaService":"true"}}`,
		`{"StringEqualsIfExists":{"kms:CallerAccount":"111122223333"}}`,
		`{"DateLessThan":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`,
		`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:*"}}`,
		`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`,
	}
	genCallers = []Request{alice, carol, bob, rootA, rootB, sess, fed, ec2, nobody}
	genCtxs    = []Context{
		nil,
		ctx("kms:ViaService", viaEC2),
		mergeCtx(ec("dept", "IT"), ctx("aws:SecureTransport", "false")),
		mergeCtx(ec("dept", "HR", "user", "alice"), ctx("aws:SourceIp", "10.1.2.3")),
		ctx("aws:SourceIp", "203.0.113.9", "aws:SecureTransport", "true"),
	}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func pickN(r *rand.Rand, xs []string) []string {
	n := 1 + r.IntN(3)
	out := make([]string, n)
	for i := range out {
		out[i] = pick(r, xs)
	}
	return out
}

// genStatement returns a statement; withPrincipal for key policies.
func genStatement(r *rand.Rand, effect string, withPrincipal bool) string {
	fields := []string{effect}
	if withPrincipal {
		ps := pickN(r, genPrincipals)
		if effect == deny && r.IntN(4) == 0 {
			fields = append(fields, notAWS(ps...))
		} else {
			fields = append(fields, awsP(ps...))
		}
	}
	if r.IntN(5) == 0 {
		fields = append(fields, notAct(pickN(r, genActions)...))
	} else {
		fields = append(fields, act(pickN(r, genActions)...))
	}
	if r.IntN(6) == 0 {
		fields = append(fields, notRes(pickN(r, genResources)...))
	} else {
		fields = append(fields, res(pickN(r, genResources)...))
	}
	if r.IntN(2) == 0 {
		fields = append(fields, cond(pick(r, genConds)))
	}
	return stmt(fields...)
}

func genEffect(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return deny
	}
	return allow
}

type scenario struct {
	key      []string   // key policy statements
	identity [][]string // identity policies' statements
	grant    bool
	req      Request
}

func genScenario(r *rand.Rand) scenario {
	var s scenario
	for range 1 + r.IntN(4) {
		s.key = append(s.key, genStatement(r, genEffect(r), true))
	}
	for range r.IntN(3) {
		var p []string
		for range 1 + r.IntN(3) {
			p = append(p, genStatement(r, genEffect(r), false))
		}
		s.identity = append(s.identity, p)
	}
	s.grant = r.IntN(5) == 0
	s.req = pick(r, genCallers)
	s.req.Action = pick(r, []string{"kms:Decrypt", "kms:Encrypt", "kms:GetKeyPolicy", "kms:PutKeyPolicy"})
	s.req.Resource = pick(r, []string{keyARN, keyARN, otherKey, keyBARN})
	s.req.Context = pick(r, genCtxs)
	s.req.Time = reqTime
	return s
}

func (s scenario) decide(t *testing.T) Decision {
	t.Helper()
	kp, err := ParseKeyPolicy(doc(s.key...))
	if err != nil {
		t.Fatalf("generated key policy: %v\n%s", err, doc(s.key...))
	}
	var ids []*Policy
	for _, p := range s.identity {
		ip, err := ParseIdentityPolicy(doc(p...))
		if err != nil {
			t.Fatalf("generated identity policy: %v\n%s", err, doc(p...))
		}
		ids = append(ids, ip)
	}
	req := s.req
	return Decide(&req, kp, ids, s.grant)
}

func (s scenario) clone() scenario {
	c := s
	c.key = append([]string(nil), s.key...)
	c.identity = nil
	for _, p := range s.identity {
		c.identity = append(c.identity, append([]string(nil), p...))
	}
	return c
}

const propertyRuns = 3000

// Adding a Deny statement anywhere never turns a refusal into an allow.
func TestPropertyAddingDenyNeverAllows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	flips := 0
	reasons := map[Reason]bool{}
	for range propertyRuns {
		s := genScenario(r)
		before := s.decide(t)
		reasons[before.Reason] = true
		after := s.clone()
		if len(after.identity) == 0 || r.IntN(2) == 0 {
			after.key = append(after.key, genStatement(r, deny, true))
		} else {
			i := r.IntN(len(after.identity))
			after.identity[i] = append(after.identity[i], genStatement(r, deny, false))
		}
		got := after.decide(t)
		if !before.Allowed && got.Allowed {
			t.Fatalf("adding a Deny allowed a refused request\nbefore: %v\nafter: %v\nscenario: %+v\nafter: %+v", before, got, s, after)
		}
		if before.Allowed && !got.Allowed {
			flips++
		}
	}
	if flips == 0 {
		t.Fatal("no generated Deny ever applied: the generator is too weak to test anything")
	}
	if len(reasons) != int(GrantAllows)+1 {
		t.Fatalf("the generated scenarios reach only the reasons %v", reasons)
	}
}

// Removing an Allow statement never turns a refusal into an allow.
func TestPropertyRemovingAllowNeverAllows(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range propertyRuns {
		s := genScenario(r)
		before := s.decide(t)
		after := s.clone()
		removed := false
		for i, st := range after.key {
			if len(after.key) > 1 && st[:len(allow)+1] == "{"+allow {
				after.key = append(after.key[:i], after.key[i+1:]...)
				removed = true
				break
			}
		}
		if !removed {
			continue
		}
		if got := after.decide(t); !before.Allowed && got.Allowed {
			t.Fatalf("removing an Allow allowed a refused request\nbefore: %v\nafter: %v\nscenario: %+v", before, got, s)
		}
	}
}

// Statement order never changes the answer or its reason.
func TestPropertyStatementOrderIrrelevant(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range propertyRuns {
		s := genScenario(r)
		before := s.decide(t)
		after := s.clone()
		r.Shuffle(len(after.key), func(i, j int) { after.key[i], after.key[j] = after.key[j], after.key[i] })
		for _, p := range after.identity {
			r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		}
		got := after.decide(t)
		if got.Allowed != before.Allowed || got.Reason != before.Reason {
			t.Fatalf("shuffling statements changed %v to %v\nscenario: %+v", before, got, s)
		}
	}
}
