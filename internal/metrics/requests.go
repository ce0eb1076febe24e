package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestBuckets span a cached Encrypt (about 100µs) to a request that
// waited seconds for the store or the audit log.
var requestBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

type requestMetrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	ops     children[*opSeries]
}

// opSeries are one operation's series, found once and kept.
type opSeries struct {
	latency  prometheus.Observer
	ok       prometheus.Counter
	failures children[prometheus.Counter] // by exception name
}

func (r *requestMetrics) init() {
	r.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kmsd_requests_total",
		Help: "KMS API requests by operation and outcome (\"ok\" or the AWS exception name the caller got).",
	}, []string{"operation", "outcome"})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kmsd_request_duration_seconds",
		Help:    "Time from a KMS API request's arrival to its answer, audit record included, by operation.",
		Buckets: requestBuckets,
	}, []string{"operation"})
}

func (r *requestMetrics) observe(op, outcome string, d time.Duration) {
	s := r.ops.get(op, func() *opSeries {
		return &opSeries{latency: r.latency.WithLabelValues(op), ok: r.total.WithLabelValues(op, OutcomeOK)}
	})
	s.latency.Observe(d.Seconds())
	if outcome == OutcomeOK {
		s.ok.Inc()
		return
	}
	s.failures.get(outcome, func() prometheus.Counter { return r.total.WithLabelValues(op, outcome) }).Inc()
}

// children caches the series of a vector by label value, so that a
// request finds its series with one map read, no lock and no allocation
// (a vector's WithLabelValues hashes the labels and allocates every call).
// The map is replaced, never changed, when a label value is first seen.
type children[V any] struct {
	mu sync.Mutex // serializes additions
	m  atomic.Pointer[map[string]V]
}

func (c *children[V]) get(key string, create func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[key]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[key]; ok {
			return v
		}
	}
	next := make(map[string]V, 1)
	if old != nil {
		next = maps.Clone(*old)
	}
	v := create()
	next[key] = v
	c.m.Store(&next)
	return v
}
