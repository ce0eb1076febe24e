package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

type fakeAudit struct{ st audit.Stats }

func (a fakeAudit) Stats() audit.Stats { return a.st }

type fakeKeys struct {
	hits, misses uint64
	pending      int64
	unmerged     int64
	flushing     bool
	states       map[string]int
	err          error
}

func (k *fakeKeys) CacheStats() (uint64, uint64) { return k.hits, k.misses }
func (k *fakeKeys) PendingKeyUses() int64        { return k.pending }
func (k *fakeKeys) UnmergedKeyUses() int64       { return k.unmerged }
func (k *fakeKeys) KeyUsesBusy() bool            { return k.flushing }
func (k *fakeKeys) KeysByState(context.Context) (map[string]int, error) {
	return k.states, k.err
}

// A scrape reads the attached node: the audit log's queue, failures and
// lag, the key cache's hits and misses, and the keys by state.
func TestNodeSeries(t *testing.T) {
	m := New(nil)
	m.Attach(Node{
		Audit: fakeAudit{audit.Stats{Queued: 7, Records: 40, Batches: 9, Failed: 2, Dropped: 1,
			DurableLag: 80 * time.Millisecond, LastDurableLag: 3 * time.Millisecond}},
		Keys:      &fakeKeys{hits: 90, misses: 10, pending: 3, unmerged: 40_000, flushing: true, states: map[string]int{"Enabled": 5, "PendingDeletion": 2}},
		Unaudited: func() uint64 { return 4 },
	})
	got := scrape(t, m)
	for series, want := range map[string]float64{
		"kmsd_audit_queue_depth":                    7,
		"kmsd_audit_records_total":                  40,
		"kmsd_audit_batches_total":                  9,
		"kmsd_audit_write_failures_total":           2,
		"kmsd_audit_dropped_records_total":          1,
		"kmsd_audit_durable_lag_seconds_count":      40,
		"kmsd_audit_durable_lag_seconds_sum":        0.08,
		"kmsd_audit_last_batch_durable_lag_seconds": 0.003,
		"kmsd_unaudited_responses_total":            4,
		"kmsd_key_cache_hits_total":                 90,
		"kmsd_key_cache_misses_total":               10,
		"kmsd_key_last_usage_pending":               3,
		"kmsd_key_last_usage_unmerged":              40_000,
		"kmsd_key_last_usage_flushing":              1,
		`kmsd_keys{state="Enabled"}`:                5,
		`kmsd_keys{state="PendingDeletion"}`:        2,
		`kmsd_keys{state="Disabled"}`:               0,
		`kmsd_keys{state="PendingReplicaDeletion"}`: 0,
	} {
		if v, ok := got[series]; !ok || v < want-1e-9 || v > want+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// When the store cannot count the keys, the scrape still serves every
// other series and leaves kmsd_keys out rather than reporting zeros.
func TestNodeSeriesWhenKeyCountFails(t *testing.T) {
	m := New(nil)
	m.Attach(Node{Keys: &fakeKeys{hits: 1, err: errors.New("store down")}})
	got := scrape(t, m)
	if got["kmsd_key_cache_hits_total"] != 1 {
		t.Errorf("cache hits missing: %v", got["kmsd_key_cache_hits_total"])
	}
	for series := range got {
		if len(series) >= 9 && series[:9] == "kmsd_keys" {
			t.Errorf("%s reported although the count failed", series)
		}
	}
	if _, ok := got["kmsd_audit_queue_depth"]; ok {
		t.Error("audit series reported for a node without an audit log")
	}
}

// A dev server's reset attaches a new node; the scrape follows it.
func TestAttachReplacesNode(t *testing.T) {
	m := New(nil)
	m.Attach(Node{Keys: &fakeKeys{hits: 5}})
	m.Attach(Node{Keys: &fakeKeys{hits: 2}})
	if v := scrape(t, m)["kmsd_key_cache_hits_total"]; v != 2 {
		t.Errorf("hits = %v, want the new node's 2", v)
	}
}
