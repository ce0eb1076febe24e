package main

import (
	"fmt"
	"slices"
	"time"
)

// splitScenario is the scenario make bench also measures on a kmsd that
// acknowledges audit records when queued (--audit-async), in the same
// rounds: the difference is what making each record durable before
// answering costs, the part of kmsd's CPU no handler work can remove.
const splitScenario = "Encrypt 32B"

// auditSplit is splitScenario's server CPU per request on the three
// servers (medians of the rounds) and the per-round shares, summarized.
type auditSplit struct {
	Scenario string        `json:"scenario"`
	Null     time.Duration `json:"null_cpu_ns"`
	Async    time.Duration `json:"audit_async_cpu_ns"`
	Durable  time.Duration `json:"durable_cpu_ns"`
	// AsyncVsNull is kmsd --audit-async's CPU over the null server's;
	// DurableShare is the part of kmsd's CPU that the async kmsd does not
	// spend, (durable - async) / durable, per round.
	AsyncVsNull  ratio `json:"audit_async_vs_null"`
	DurableShare ratio `json:"durable_share"`
}

// sampleOrder is the order of the servers in a round: kmsd and the null
// server alternate; with the async kmsd, the three rotate, so that each
// takes each place once in three rounds.
func sampleOrder(round int, withAsync bool) []string {
	if !withAsync {
		if round%2 == 1 {
			return []string{"null", "kmsd"}
		}
		return []string{"kmsd", "null"}
	}
	o := []string{"kmsd", "async", "null"}
	k := round % len(o)
	return append(o[k:], o[:k]...)
}

// splitAudit summarizes the rounds' samples of the three servers; rounds
// missing a sample or with no CPU measured are left out.
func splitAudit(rounds []map[string]sampleResult) *auditSplit {
	var nulls, asyncs, durables, vsNull, shares []float64
	for _, got := range rounds {
		n, a, d := got["null"].CPUPerReq, got["async"].CPUPerReq, got["kmsd"].CPUPerReq
		if n <= 0 || a <= 0 || d <= 0 {
			continue
		}
		nulls, asyncs, durables = append(nulls, float64(n)), append(asyncs, float64(a)), append(durables, float64(d))
		vsNull = append(vsNull, float64(a)/float64(n))
		shares = append(shares, float64(d-a)/float64(d))
	}
	if len(shares) == 0 {
		return nil
	}
	median := func(v []float64) time.Duration { return time.Duration(summarize("", slices.Clone(v)).Median) }
	return &auditSplit{
		Scenario: splitScenario, Null: median(nulls), Async: median(asyncs), Durable: median(durables),
		AsyncVsNull: summarize("audit-async vs null", vsNull), DurableShare: summarize("durable share", shares),
	}
}

func (s *auditSplit) print() {
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Nanosecond) }
	fmt.Printf("\ndurable audit, %s (server CPU per request, medians of the rounds): kmsd %s, kmsd --audit-async %s, null %s\n",
		s.Scenario, r(s.Durable), r(s.Async), r(s.Null))
	fmt.Printf("  making each record durable before answering: %.0f%% [%.0f–%.0f%%] of kmsd's CPU\n",
		100*s.DurableShare.Median, 100*s.DurableShare.Min, 100*s.DurableShare.Max)
	fmt.Printf("  kmsd without it (--audit-async) vs null: %.2f× [%.2f–%.2f]\n", s.AsyncVsNull.Median, s.AsyncVsNull.Min, s.AsyncVsNull.Max)
}
