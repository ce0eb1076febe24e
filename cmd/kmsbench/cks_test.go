package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

// Each key leads one round in turn, and every round measures every key.
func TestRotateGivesEachKeyEachPlace(t *testing.T) {
	keys := []string{"a", "b", "c"}
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	for r, w := range want {
		if got := rotate(keys, r); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", r, got, w)
		}
	}
	if !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", keys)
	}
	if rotate(nil, 1) != nil {
		t.Error("rotate(nil) is not empty")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Ratios pair each key with the standard key of the same round (not the
// medians of each), CPU ratios divide by the standard key's total, and
// KMS side + proxy = total holds for the ratios.
func TestCKSRowsRatiosPerRound(t *testing.T) {
	s := func(key string, round int, rps float64, p50, p99, kms, proxy time.Duration) cksSample {
		return cksSample{Key: key, Round: round, ProxyCPUPerReq: proxy,
			sampleResult: sampleResult{RPS: rps, P50: p50, P99: p99, CPUPerReq: kms, Errors: int64(round)}}
	}
	ms, us := time.Millisecond, time.Microsecond
	samples := []cksSample{
		// A busy round 0 halves everything; the per-round ratios stay put.
		s("std", 0, 5000, 10*ms, 40*ms, 100*us, 0), s("xks", 0, 2500, 20*ms, 40*ms, 200*us, 100*us),
		s("std", 1, 10000, 5*ms, 20*ms, 50*us, 0), s("xks", 1, 5000, 10*ms, 20*ms, 100*us, 50*us),
		s("std", 2, 10000, 5*ms, 20*ms, 50*us, 0), s("xks", 2, 4000, 10*ms, 30*ms, 100*us, 50*us),
		s("xks", 3, 1, ms, ms, ms, ms), // no standard sample in round 3: medians only
	}
	rows := cksRows(samples, []string{"std", "xks"})
	if len(rows) != 2 || rows[0].Key != "std" || rows[1].Key != "xks" {
		t.Fatalf("rows %+v", rows)
	}
	std, xks := rows[0], rows[1]
	if !near(std.RPSx.Median, 1) || !near(std.Totalx.Median, 1) || len(std.RPSx.PerRound) != 3 {
		t.Errorf("standard against itself: %+v", std)
	}
	if std.RPS != 10000 || std.P50 != 5*ms || std.KMSCPU != 50*us || std.Errors != 3 {
		t.Errorf("standard medians: %+v", std)
	}
	if xks.Errors != 6 || xks.TotalCPU != 225*us || xks.ProxyCPU != 75*us {
		t.Errorf("xks medians over four rounds: %+v", xks)
	}
	for _, c := range []struct {
		name string
		r    ratio
		want []float64
	}{
		{"req/s", xks.RPSx, []float64{0.5, 0.5, 0.4}},
		{"p50", xks.P50x, []float64{2, 2, 2}},
		{"p99", xks.P99x, []float64{1, 1, 1.5}},
		{"KMS side", xks.KMSCPUx, []float64{2, 2, 2}},
		{"proxy", xks.Proxyx, []float64{1, 1, 1}},
		{"total", xks.Totalx, []float64{3, 3, 3}},
	} {
		if len(c.r.PerRound) != len(c.want) {
			t.Errorf("%s: per round %v, want %v", c.name, c.r.PerRound, c.want)
			continue
		}
		for i := range c.want {
			if !near(c.r.PerRound[i], c.want[i]) {
				t.Errorf("%s: per round %v, want %v", c.name, c.r.PerRound, c.want)
				break
			}
		}
	}
	if !near(xks.RPSx.Median, 0.5) || !near(xks.RPSx.Min, 0.4) || !near(xks.P99x.Max, 1.5) {
		t.Errorf("xks summaries: req/s %+v, p99 %+v", xks.RPSx, xks.P99x)
	}
}

// A standard key with no CPU measured (a sample too short for a clock
// tick) gives no CPU ratio rather than an infinite one.
func TestCKSRowsSkipsZeroReference(t *testing.T) {
	rows := cksRows([]cksSample{
		{Key: "std", sampleResult: sampleResult{RPS: 100, P50: time.Millisecond, P99: time.Millisecond}},
		{Key: "hsm", sampleResult: sampleResult{RPS: 50, P50: time.Millisecond, P99: time.Millisecond, CPUPerReq: time.Microsecond}},
	}, []string{"std", "hsm"})
	if got := rows[1]; len(got.Totalx.PerRound) != 0 || len(got.KMSCPUx.PerRound) != 0 || !near(got.RPSx.Median, 0.5) {
		t.Fatalf("hsm row %+v", got)
	}
}
