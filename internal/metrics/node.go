package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsd/kmsd/internal/audit"
)

// Node is what a scrape reads from the node serving requests. A nil field
// leaves its series out (an ephemeral node keeps no audit log file).
type Node struct {
	Audit AuditLog
	Keys  Keys
	// Unaudited counts the responses answered without a durable audit
	// record (best-effort audit, kmsd dev).
	Unaudited func() uint64
}

// AuditLog is the audit log's side of a scrape.
type AuditLog interface {
	Stats() audit.Stats
}

// Keys is the key service's side of a scrape.
type Keys interface {
	CacheStats() (hits, misses uint64)
	PendingKeyUses() int64
	UnmergedKeyUses() int64
	KeyUsesBusy() bool
	KeysByState(ctx context.Context) (map[string]int, error)
}

// keyStates are the states AWS documents; each is reported, zero or not,
// so a query for one finds a series before the first such key exists.
var keyStates = []string{"Creating", "Enabled", "Disabled", "PendingDeletion", "PendingImport", "PendingReplicaDeletion", "Unavailable", "Updating"}

// keyCountTimeout bounds the store read of a scrape.
const keyCountTimeout = 10 * time.Second

// Attach makes a scrape read n; a dev server's reset attaches its new
// node. A nil Metrics does nothing.
func (m *Metrics) Attach(n Node) {
	if m != nil {
		m.node.current.Store(&n)
	}
}

// nodeCollector reads the attached node's state when Prometheus scrapes.
type nodeCollector struct {
	current atomic.Pointer[Node]

	auditQueued, auditRecords, auditBatches, auditFailures, auditDropped *prometheus.Desc
	auditLag, auditLastLag, unaudited                                    *prometheus.Desc
	cacheHits, cacheMisses, pendingUses, keys                            *prometheus.Desc
	unmergedUses, flushingUses                                           *prometheus.Desc
}

func (c *nodeCollector) init() {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c.auditQueued = d("kmsd_audit_queue_depth", "Audit records accepted and not yet durable: queued, being written, or kept for a retry.")
	c.auditRecords = d("kmsd_audit_records_total", "Audit records written and fsynced.")
	c.auditBatches = d("kmsd_audit_batches_total", "Audit log batches written and fsynced: records_total / batches_total is the mean number of records one fsync made durable.")
	c.auditFailures = d("kmsd_audit_write_failures_total", "Audit log batches whose write or fsync failed.")
	c.auditDropped = d("kmsd_audit_dropped_records_total", "Audit records given up on, never to be written.")
	c.auditLag = d("kmsd_audit_durable_lag_seconds", "Time from an audit record's Append to the end of the fsync that made it durable.")
	c.auditLastLag = d("kmsd_audit_last_batch_durable_lag_seconds", "The longest Append-to-fsync time of the last audit batch written.")
	c.unaudited = d("kmsd_unaudited_responses_total", "Responses answered without a durable audit record (best-effort audit only).")
	c.cacheHits = d("kmsd_key_cache_hits_total", "Lookups of keys and aliases answered from memory.")
	c.cacheMisses = d("kmsd_key_cache_misses_total", "Lookups of keys and aliases that read the store.")
	c.pendingUses = d("kmsd_key_last_usage_pending", "Keys with a use recorded in memory and not yet written to the store (GetKeyLastUsage): what a crash would lose. The flush writes them every --jobs-interval, or as soon as 250,000 keys are waiting.")
	c.unmergedUses = d("kmsd_key_last_usage_unmerged", "Key uses written as runs and not yet merged into place, as this node last counted them (at each flush and merge): GetKeyLastUsage reads each run that spans its key. A flush of 4,096 uses or more writes runs; a merge writes them in place once they hold 1,000,000 uses, number 64, or the oldest is an hour old.")
	c.flushingUses = d("kmsd_key_last_usage_flushing", "1 while this node's last-usage flush runs, or a merge of the runs of key uses is due or runs on it.")
	c.keys = d("kmsd_keys", "KMS keys of every account and Region, by key state.", "state")
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.auditQueued, c.auditRecords, c.auditBatches, c.auditFailures, c.auditDropped,
		c.auditLag, c.auditLastLag, c.unaudited, c.cacheHits, c.cacheMisses, c.pendingUses, c.unmergedUses, c.flushingUses, c.keys} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.current.Load()
	if n == nil {
		return
	}
	if n.Audit != nil {
		st := n.Audit.Stats()
		ch <- prometheus.MustNewConstMetric(c.auditQueued, prometheus.GaugeValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(c.auditRecords, prometheus.CounterValue, float64(st.Records))
		ch <- prometheus.MustNewConstMetric(c.auditBatches, prometheus.CounterValue, float64(st.Batches))
		ch <- prometheus.MustNewConstMetric(c.auditFailures, prometheus.CounterValue, float64(st.Failed))
		ch <- prometheus.MustNewConstMetric(c.auditDropped, prometheus.CounterValue, float64(st.Dropped))
		ch <- prometheus.MustNewConstSummary(c.auditLag, st.Records, st.DurableLag.Seconds(), nil)
		ch <- prometheus.MustNewConstMetric(c.auditLastLag, prometheus.GaugeValue, st.LastDurableLag.Seconds())
	}
	if n.Unaudited != nil {
		ch <- prometheus.MustNewConstMetric(c.unaudited, prometheus.CounterValue, float64(n.Unaudited()))
	}
	if n.Keys == nil {
		return
	}
	hits, misses := n.Keys.CacheStats()
	ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(misses))
	ch <- prometheus.MustNewConstMetric(c.pendingUses, prometheus.GaugeValue, float64(n.Keys.PendingKeyUses()))
	ch <- prometheus.MustNewConstMetric(c.unmergedUses, prometheus.GaugeValue, float64(n.Keys.UnmergedKeyUses()))
	active := 0.0
	if n.Keys.KeyUsesBusy() {
		active = 1
	}
	ch <- prometheus.MustNewConstMetric(c.flushingUses, prometheus.GaugeValue, active)
	ctx, cancel := context.WithTimeout(context.Background(), keyCountTimeout)
	defer cancel()
	counts, err := n.Keys.KeysByState(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.keys, err)
		return
	}
	for _, s := range keyStates {
		ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(counts[s]), s)
	}
	for s, v := range counts {
		if !isKnownState(s) {
			ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(v), s)
		}
	}
}

func isKnownState(s string) bool {
	for _, k := range keyStates {
		if k == s {
			return true
		}
	}
	return false
}
