package main

import (
	"fmt"
	"strings"
	"time"
)

// wholeRun is a server's CPU time and the API requests it has answered,
// read before and after the rounds. Between the two readings lie every
// sample, every warmup and all background work, the flush of key uses
// among it: the medians of per-sample ratios mostly leave out the samples
// a once-a-minute flush lands in, and this does not.
type wholeRun struct {
	procStat
	requests float64
}

func wholeRunOf(s *server, metricsURL string) (wholeRun, error) {
	st, err := procStatOf(s.cmd.Process.Pid)
	if err != nil {
		return wholeRun{}, err
	}
	n, err := requestsOf(metricsURL)
	return wholeRun{procStat: st, requests: n}, err
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

// faults are the page faults taken since from. A minor fault maps a page
// already in memory (the store's file map, after a remap or for a page
// not touched before) in about a microsecond; a major fault waits for the
// disk, and stalls whatever took it: a request, or background work.
func (w wholeRun) faults(from wholeRun) pageFaults {
	return pageFaults{Minor: w.minor - from.minor, Major: w.major - from.major, Requests: int64(w.requests - from.requests)}
}

type pageFaults struct {
	Minor    int64 `json:"minor"`
	Major    int64 `json:"major"`
	Requests int64 `json:"requests"`
}

// perThousand is n faults per 1,000 of the requests served meanwhile.
func (f pageFaults) perThousand(n int64) float64 {
	if f.Requests <= 0 {
		return 0
	}
	return 1000 * float64(n) / float64(f.Requests)
}

func (f pageFaults) String() string {
	return fmt.Sprintf("%d minor, %d major over %d requests (%.2f and %.2f per 1,000)", f.Minor, f.Major, f.Requests, f.perThousand(f.Minor), f.perThousand(f.Major))
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
