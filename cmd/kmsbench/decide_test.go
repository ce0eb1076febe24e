package main

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSummarizeRatios(t *testing.T) {
	for _, c := range []struct {
		in               []float64
		median, min, max float64
	}{
		{[]float64{1.3, 1.1, 1.2}, 1.2, 1.1, 1.3},
		{[]float64{1.4, 1.0, 1.2, 1.1}, 1.15, 1.0, 1.4},
		{[]float64{0.9}, 0.9, 0.9, 0.9},
	} {
		r := summarize("x", c.in)
		if diff := r.Median - c.median; diff > 1e-9 || diff < -1e-9 || r.Min != c.min || r.Max != c.max {
			t.Errorf("summarize(%v) = %+v, want median %v min %v max %v", c.in, r, c.median, c.min, c.max)
		}
	}
}

func TestTargetVerdicts(t *testing.T) {
	for _, c := range []struct {
		measured, limit float64
		atMost, holds   bool
	}{
		{1.05, 1.10, true, true}, {1.20, 1.10, true, false},
		{3500, 3000, false, true}, {2000, 3000, false, false},
	} {
		if got := newTarget("t", c.measured, c.limit, c.atMost, "").Holds; got != c.holds {
			t.Errorf("%v against %v (at most: %v): holds = %v", c.measured, c.limit, c.atMost, got)
		}
	}
}

// A request that failed on any server but the do-nothing one breaks the
// target: the clients do not retry, so a throttled request counts as one.
func TestFailedTarget(t *testing.T) {
	samples := []roundSample{
		{Server: "kmsd", sampleResult: sampleResult{Errors: 0}},
		{Server: "null", sampleResult: sampleResult{Errors: 7}},
		{Server: "async", sampleResult: sampleResult{Errors: 0}},
	}
	if got := failedTarget(samples, "null"); !got.Holds || got.Measured != 0 {
		t.Errorf("failures of the skipped server only: %+v", got)
	}
	samples[2].Errors = 2
	if got := failedTarget(samples, "null"); got.Holds || got.Measured != 2 {
		t.Errorf("two failures in kmsd's samples: %+v", got)
	}
	if got := failedTarget(samples, ""); got.Measured != 9 {
		t.Errorf("with no server skipped: %+v", got)
	}
}

// The fault target compares rates per 1,000 requests, not counts.
func TestPageFaultsPerThousand(t *testing.T) {
	many := pageFaults{Major: 3, Requests: 600_000}
	one := pageFaults{Major: 2, Requests: 200_000}
	if got := many.perThousand(many.Major); got != 0.005 {
		t.Errorf("3 in 600,000 = %v per 1,000", got)
	}
	if newTarget("f", many.perThousand(many.Major), one.perThousand(one.Major), true, "").Holds != true {
		t.Error("a lower rate than the one-key server's must hold")
	}
	if (pageFaults{Major: 5}).perThousand(5) != 0 {
		t.Error("no requests must give 0, not a division by zero")
	}
}

// rssOf finds this process's resident set and the part mapped from a file
// it maps, as bench-scale reads the store's map.
func TestRSSOfCountsAFileMap(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rss, mapped, err := rssOf(os.Getpid(), exe[strings.LastIndexByte(exe, '/'):])
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || mapped <= 0 || mapped > rss {
		t.Fatalf("rss %d, mapped from the executable %d", rss, mapped)
	}
}

// primitiveCPU reports CPU per call: twice the work measures about twice
// the CPU, however busy the host.
func TestPrimitiveCPUIsPerCall(t *testing.T) {
	buf := make([]byte, 16<<10)
	work := func(n int) func() {
		return func() {
			for range n {
				_ = sha256.Sum256(buf)
			}
		}
	}
	one, allocs := primitiveCPU(work(1))
	two, _ := primitiveCPU(work(2))
	if one <= 0 || allocs != 0 {
		t.Fatalf("one hash: %v of CPU, %d allocs", one, allocs)
	}
	if r := float64(two) / float64(one); r < 1.4 || r > 2.8 {
		t.Fatalf("two hashes cost %v, one %v: ratio %.2f, want about 2", two, one, r)
	}
}

// Each server takes each place once in as many rounds as there are
// servers, so that no server always runs first on a warming host.
func TestSampleOrderRotates(t *testing.T) {
	for _, withAsync := range []bool{false, true} {
		n := len(sampleOrder(0, withAsync))
		places := map[string]map[int]bool{}
		for round := range n {
			o := sampleOrder(round, withAsync)
			if len(o) != n {
				t.Fatalf("round %d: %v", round, o)
			}
			for i, name := range o {
				if places[name] == nil {
					places[name] = map[int]bool{}
				}
				places[name][i] = true
			}
		}
		if len(places) != n {
			t.Errorf("async %v: servers %v", withAsync, places)
		}
		for name, p := range places {
			if len(p) != n {
				t.Errorf("async %v: %s takes places %v in %d rounds", withAsync, name, p, n)
			}
		}
	}
}

func TestSplitAudit(t *testing.T) {
	us := time.Microsecond
	round := func(null, async, durable time.Duration) map[string]sampleResult {
		return map[string]sampleResult{"null": {CPUPerReq: null}, "async": {CPUPerReq: async}, "kmsd": {CPUPerReq: durable}}
	}
	s := splitAudit([]map[string]sampleResult{
		round(50*us, 100*us, 125*us), // share 0.2, 2×
		round(60*us, 90*us, 120*us),  // share 0.25, 1.5×
		round(50*us, 0, 130*us),      // no async sample: left out
		round(40*us, 100*us, 200*us), // share 0.5, 2.5×
	})
	if s == nil {
		t.Fatal("no split")
	}
	if s.Null != 50*us || s.Async != 100*us || s.Durable != 125*us {
		t.Errorf("medians: null %v async %v durable %v", s.Null, s.Async, s.Durable)
	}
	if len(s.DurableShare.PerRound) != 3 || s.DurableShare.Median != 0.25 || s.DurableShare.Min != 0.2 || s.DurableShare.Max != 0.5 {
		t.Errorf("durable share %+v", s.DurableShare)
	}
	if s.AsyncVsNull.Median != 2 || s.AsyncVsNull.Min != 1.5 || s.AsyncVsNull.Max != 2.5 {
		t.Errorf("async vs null %+v", s.AsyncVsNull)
	}
	if splitAudit([]map[string]sampleResult{round(50*us, 0, 100*us)}) != nil {
		t.Error("a split from rounds without an async sample")
	}
}
