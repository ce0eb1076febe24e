package metrics

import (
	"strings"
	"testing"
	"time"
)

// Requests are counted by operation and outcome, and timed by operation.
func TestRequestsByOperationAndOutcome(t *testing.T) {
	m := New(nil)
	for range 3 {
		m.ObserveRequest("Encrypt", OutcomeOK, 2*time.Millisecond)
	}
	m.ObserveRequest("Encrypt", "AccessDeniedException", time.Millisecond)
	m.ObserveRequest("Decrypt", "InvalidCiphertextException", 300*time.Microsecond)
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`kmsd_requests_total{operation="Encrypt",outcome="ok"}`:                         3,
		`kmsd_requests_total{operation="Encrypt",outcome="AccessDeniedException"}`:      1,
		`kmsd_requests_total{operation="Decrypt",outcome="InvalidCiphertextException"}`: 1,
		`kmsd_request_duration_seconds_count{operation="Encrypt"}`:                      4,
		`kmsd_request_duration_seconds_bucket{operation="Encrypt",le="0.001"}`:          1,
		`kmsd_request_duration_seconds_bucket{operation="Encrypt",le="0.0025"}`:         4,
		`kmsd_request_duration_seconds_sum{operation="Encrypt"}`:                        0.007,
		`kmsd_request_duration_seconds_bucket{operation="Decrypt",le="0.0005"}`:         1,
	} {
		if v, ok := got[series]; !ok || v < want-1e-9 || v > want+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	// An operation's "ok" series exists from its first request on, so a
	// ratio of failures to successes has both sides.
	if v, ok := got[`kmsd_requests_total{operation="Decrypt",outcome="ok"}`]; !ok || v != 0 {
		t.Errorf(`Decrypt "ok" = %v (present %v), want 0`, v, ok)
	}
}

// The request hot path allocates nothing once an operation and outcome
// have been seen.
func TestObserveRequestDoesNotAllocate(t *testing.T) {
	m := New(nil)
	m.ObserveRequest("Encrypt", OutcomeOK, time.Millisecond)
	m.ObserveRequest("Encrypt", "DisabledException", time.Millisecond)
	for _, outcome := range []string{OutcomeOK, "DisabledException"} {
		if n := testing.AllocsPerRun(1000, func() { m.ObserveRequest("Encrypt", outcome, time.Millisecond) }); n != 0 {
			t.Errorf("ObserveRequest(Encrypt, %s) allocates %v times per call, want 0", outcome, n)
		}
	}
}

// The leader gauge is 1 until a cluster node says it lost the lease.
func TestLeaderGauge(t *testing.T) {
	m := New(nil)
	if v := scrape(t, m)["kmsd_leader"]; v != 1 {
		t.Errorf("kmsd_leader = %v on a new node, want 1", v)
	}
	m.SetLeader(false)
	if v := scrape(t, m)["kmsd_leader"]; v != 0 {
		t.Errorf("kmsd_leader = %v after SetLeader(false), want 0", v)
	}
	m.SetLeader(true)
	if v := scrape(t, m)["kmsd_leader"]; v != 1 {
		t.Errorf("kmsd_leader = %v after SetLeader(true), want 1", v)
	}
	// A node without an admin listener has no Metrics; the lease code
	// calls the setter all the same.
	var none *Metrics
	none.SetLeader(false)
	none.Attach(Node{})
}

// Every kmsd series follows Prometheus naming: the kmsd_ prefix, _total
// on counters, base units (seconds) on histograms and summaries; and the
// Go runtime and process series are there too.
func TestSeriesNames(t *testing.T) {
	m := New(nil)
	m.ObserveRequest("Encrypt", OutcomeOK, time.Millisecond)
	m.Attach(Node{Audit: fakeAudit{}, Keys: &fakeKeys{}, Unaudited: func() uint64 { return 0 }})
	got := scrape(t, m)
	var kmsd int
	for series := range got {
		name, _, _ := strings.Cut(series, "{")
		switch {
		case strings.HasPrefix(name, "kmsd_"):
			kmsd++
			if strings.Contains(name, "_ms") || strings.Contains(name, "millis") {
				t.Errorf("%s is not in base units", name)
			}
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		default:
			t.Errorf("series %s has neither the kmsd_ prefix nor a standard one", name)
		}
	}
	if kmsd < 15 {
		t.Errorf("only %d kmsd series", kmsd)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime series")
	}
}
