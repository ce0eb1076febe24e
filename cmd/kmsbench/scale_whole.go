package main

import (
	"strings"
	"time"
)

// wholeRun is a server's CPU time and the API requests it has answered,
// read before and after the rounds. Between the two readings lie every
// sample, every warmup and all background work, the flush of key uses
// among it: the medians of per-sample ratios mostly leave out the samples
// a once-a-minute flush lands in, and this does not.
type wholeRun struct {
	cpu      time.Duration
	requests float64
}

func wholeRunOf(s *server, metricsURL string) (wholeRun, error) {
	cpu, err := s.cpuTime()
	if err != nil {
		return wholeRun{}, err
	}
	n, err := requestsOf(metricsURL)
	return wholeRun{cpu: cpu, requests: n}, err
}

// perRequest is the CPU time per request answered since from; 0 when none
// was.
func (w wholeRun) perRequest(from wholeRun) time.Duration {
	n := w.requests - from.requests
	if n <= 0 {
		return 0
	}
	return time.Duration(float64(w.cpu-from.cpu) / n)
}

// requestsOf is kmsd_requests_total summed over its labels: every API
// request the kmsd whose metrics are at url has answered.
func requestsOf(url string) (float64, error) {
	var n float64
	err := scrape(url, func(series string, v float64) {
		if strings.HasPrefix(series, "kmsd_requests_total{") {
			n += v
		}
	})
	return n, err
}
