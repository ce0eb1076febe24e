package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OutcomeOK is the outcome label of a request that succeeded; a failed one
// carries its AWS exception name.
const OutcomeOK = "ok"

// Metrics holds a process's series. Create one per process with New: a
// dev server's reset replaces the node (Attach), not the Metrics, so the
// counters of requests and store calls keep counting across it.
type Metrics struct {
	reg      *prometheus.Registry
	requests requestMetrics
	store    storeMetrics
	leader   prometheus.Gauge
	node     nodeCollector
	log      *slog.Logger
}

// New registers kmsd's series, and Go runtime and process series, in a
// registry of its own. log receives scrape errors (nil: discarded).
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmsd_leader",
			Help: "1 while this node runs the background jobs (the only node, or the cluster's leader), else 0.",
		}),
		log: log,
	}
	m.requests.init()
	m.store.init()
	m.node.init()
	m.leader.Set(1)
	m.reg.MustRegister(
		m.requests.total, m.requests.latency,
		m.store.latency, m.store.errors,
		m.leader, &m.node,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the series in the Prometheus text format. A series that
// cannot be read (key states when the store fails) is left out and logged;
// the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       30 * time.Second,
	})
}

// SetLeader sets kmsd_leader: a cluster node calls it as it gains or loses
// the jobs lease. A node that never calls it reports 1. A nil Metrics (no
// admin listener) does nothing.
func (m *Metrics) SetLeader(leader bool) {
	switch {
	case m == nil:
	case leader:
		m.leader.Set(1)
	default:
		m.leader.Set(0)
	}
}

// ObserveRequest counts one KMS API request and its latency. operation
// must come from a bounded set (the API's operation names, or one name
// for every unknown target), never straight from the wire. It does not
// allocate once the operation and outcome have been seen.
func (m *Metrics) ObserveRequest(operation, outcome string, latency time.Duration) {
	m.requests.observe(operation, outcome, latency)
}
