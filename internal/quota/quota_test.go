package quota

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newLimiter(t *testing.T, spec string) (*Limiter, *fakeClock) {
	t.Helper()
	r, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	l := New(r)
	if l == nil {
		t.Fatalf("New(%q) = nil", spec)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l.now = clock.Now
	return l, clock
}

// admitted counts how many of n requests at one instant are allowed.
func admitted(l *Limiter, n int, account, region, name string) int {
	ok := 0
	for range n {
		if l.Allow(account, region, name) {
			ok++
		}
	}
	return ok
}

func TestBucketAdmitsOneSecondThenTheRate(t *testing.T) {
	l, clock := newLimiter(t, "aws")
	if got := admitted(l, 20, "111122223333", "us-east-1", "CreateKey"); got != 5 {
		t.Fatalf("a burst of 20 CreateKey admitted %d, want AWS's 5 per second", got)
	}
	clock.Add(200 * time.Millisecond)
	if got := admitted(l, 5, "111122223333", "us-east-1", "CreateKey"); got != 1 {
		t.Fatalf("200 ms later %d admitted, want 1 (5 per second)", got)
	}
	clock.Add(time.Second)
	if got := admitted(l, 20, "111122223333", "us-east-1", "CreateKey"); got != 5 {
		t.Fatalf("a second later %d admitted, want 5", got)
	}
}

func TestQuotasAreSeparateByAccountRegionAndName(t *testing.T) {
	l, _ := newLimiter(t, "aws,CreateKey=2,rsa=2")
	if got := admitted(l, 5, "111122223333", "us-east-1", "CreateKey"); got != 2 {
		t.Fatalf("admitted %d, want 2", got)
	}
	for _, other := range []struct{ account, region, name string }{
		{"444455556666", "us-east-1", "CreateKey"},
		{"111122223333", "eu-west-1", "CreateKey"},
		{"111122223333", "us-east-1", "CreateAlias"},
		{"111122223333", "us-east-1", RSA},
	} {
		if got := admitted(l, 2, other.account, other.region, other.name); got != 2 {
			t.Errorf("%+v admitted %d of 2 after another quota ran out", other, got)
		}
	}
}

func TestSlowQuotas(t *testing.T) {
	l, clock := newLimiter(t, "aws")
	name := DataKeyPair("RSA_4096")
	if got := admitted(l, 3, "111122223333", "us-east-1", name); got != 1 {
		t.Fatalf("admitted %d, want 1", got)
	}
	clock.Add(9 * time.Second)
	if l.Allow("111122223333", "us-east-1", name) {
		t.Fatal("a second RSA_4096 key pair within 10 s was admitted (AWS: 0.1 per second)")
	}
	clock.Add(time.Second)
	if !l.Allow("111122223333", "us-east-1", name) {
		t.Fatal("the RSA_4096 key pair quota did not refill after 10 s")
	}
}

func TestAWSDefaults(t *testing.T) {
	r := AWS()
	for _, c := range []struct {
		name, region string
		want         float64
	}{
		{Symmetric, "us-east-1", 100000},
		{Symmetric, "eu-central-1", 20000},
		{Symmetric, "sa-east-1", 10000},
		{Symmetric, "local-1", 10000},
		{RSA, "us-east-1", 1000},
		{ECC, "cn-north-1", 1000},
		{MLDSA, "us-east-1", 1000},
		{"DescribeKey", "us-east-1", 2000},
		{"CreateGrant", "us-east-1", 50},
		{"GetParametersForImport", "us-east-1", 0.25},
		{DataKeyPair("ECC_NIST_P384"), "us-east-1", 10},
		{"Encrypt", "us-east-1", math.Inf(1)}, // charged by key type, never by name
	} {
		if got := r.Rate(c.name, c.region); got != c.want {
			t.Errorf("Rate(%s, %s) = %v, want %v", c.name, c.region, got, c.want)
		}
	}
}

func TestKeyClass(t *testing.T) {
	for spec, want := range map[string]string{
		"SYMMETRIC_DEFAULT": Symmetric, "HMAC_256": Symmetric, "RSA_4096": RSA,
		"ECC_NIST_P256": ECC, "ECC_SECG_P256K1": ECC, "ECC_NIST_EDWARDS25519": ECC, "SM2": ECC,
		"ML_DSA_65": MLDSA, "ML_KEM_768": MLKEM,
	} {
		if got := KeyClass(spec); got != want {
			t.Errorf("KeyClass(%s) = %s, want %s", spec, got, want)
		}
	}
	for _, op := range []string{"Encrypt", "ReEncrypt", "GenerateDataKeyPair", "GenerateRandom", "Sign", "Decapsulate"} {
		if !ChargedByKey(op) {
			t.Errorf("%s is not charged by key", op)
		}
	}
	for _, op := range []string{"CreateKey", "DescribeKey", "GetPublicKey", "ListKeys"} {
		if ChargedByKey(op) {
			t.Errorf("%s is charged by key, want by its own quota", op)
		}
	}
}

func TestParse(t *testing.T) {
	for spec, want := range map[string]string{
		"aws":                              "aws",
		" off ":                            "off",
		"0.1":                              "0.1",
		"CreateKey=1":                      "aws,CreateKey=1",
		"off,symmetric=50,rsa=off":         "off,rsa=off,symmetric=50",
		"2,GenerateDataKeyPair/RSA_2048=3": "2,GenerateDataKeyPair/RSA_2048=3",
	} {
		r, err := Parse(spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", spec, err)
			continue
		}
		if r.String() != want {
			t.Errorf("Parse(%q) = %s, want %s", spec, r, want)
		}
	}
	for spec, wantInErr := range map[string]string{
		"sometimes":       "positive scale",
		"-1":              "positive scale",
		"0":               "positive scale",
		"CreateKye=1":     `no quota is named "CreateKye"`,
		"Encrypt=5":       `no quota is named "Encrypt"`,
		"CreateKey=0":     "positive number",
		"CreateKey=fast":  "positive number",
		"CreateKey=1,aws": "must come first",
	} {
		if _, err := Parse(spec); err == nil || !strings.Contains(err.Error(), wantInErr) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", spec, err, wantInErr)
		}
	}
	if r, _ := Parse("off,rsa=off"); !r.Off() || New(r) != nil {
		t.Error("a setting that limits nothing is not off")
	}
	var none *Limiter
	if !none.Allow("111122223333", "us-east-1", "CreateKey") {
		t.Error("a nil Limiter refused a request")
	}
}

func TestScale(t *testing.T) {
	l, _ := newLimiter(t, "0.4")
	if got := admitted(l, 10, "111122223333", "us-east-1", "CreateKey"); got != 2 {
		t.Fatalf("admitted %d CreateKey at scale 0.4, want 2", got)
	}
}

// TestIdleBucketsAreDropped: requests naming ever new Regions do not grow
// the limiter without bound; a dropped bucket was full, so dropping it
// changes no answer.
func TestIdleBucketsAreDropped(t *testing.T) {
	l, clock := newLimiter(t, "aws")
	for i := range 3 * minSweep {
		l.Allow("111122223333", fmt.Sprintf("region-%d", i), "CreateKey")
		if i%minSweep == 0 {
			clock.Add(time.Second)
		}
	}
	if n := l.size.Load(); n > 2*minSweep {
		t.Fatalf("%d buckets kept for %d mostly idle Regions", n, 3*minSweep)
	}
	// A busy bucket survives a sweep with its count.
	admitted(l, 5, "111122223333", "us-east-1", "CreateKey")
	l.sweep()
	if l.Allow("111122223333", "us-east-1", "CreateKey") {
		t.Fatal("a sweep refilled a busy bucket")
	}
}
