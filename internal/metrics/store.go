package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsd/kmsd/internal/store"
)

// storeBuckets span a bbolt read (tens of µs) to a PostgreSQL transaction
// that waited for a lock or a failover.
var storeBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

type storeMetrics struct {
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

func (s *storeMetrics) init() {
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kmsd_store_transaction_duration_seconds",
		Help:    "Time of a store transaction (View or Update, retries of an Update included), by kind.",
		Buckets: storeBuckets,
	}, []string{"op"})
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kmsd_store_errors_total",
		Help: "Store transactions that failed in the store (a failed read, write or commit), by kind; a record that does not exist is no error.",
	}, []string{"op"})
}

// Store returns st with each View and Update timed and its failures
// counted. A nil Metrics returns st itself.
func (m *Metrics) Store(st store.Store) store.Store {
	if m == nil {
		return st
	}
	return observedStore{
		Store:  st,
		view:   storeOp{m.store.latency.WithLabelValues("view"), m.store.errors.WithLabelValues("view")},
		update: storeOp{m.store.latency.WithLabelValues("update"), m.store.errors.WithLabelValues("update")},
	}
}

type observedStore struct {
	store.Store
	view, update storeOp
}

func (s observedStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.view.run(ctx, s.Store.View, fn)
}

func (s observedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.update.run(ctx, s.Store.Update, fn)
}

type storeOp struct {
	latency prometheus.Observer
	errors  prometheus.Counter
}

// run times one transaction. It is a store failure when the transaction
// failed although fn did not (begin or commit failed), or when a call on
// the Tx failed; an error fn chose to return (a key that does not exist,
// a refused request) is not.
func (o storeOp) run(ctx context.Context, do func(context.Context, func(store.Tx) error) error, fn func(store.Tx) error) error {
	start := time.Now()
	var fnErr error
	tx := &observedTx{}
	err := do(ctx, func(inner store.Tx) error {
		tx.Tx, tx.failed = inner, false // a retried Update starts again
		fnErr = fn(tx)
		return fnErr
	})
	o.latency.Observe(time.Since(start).Seconds())
	if err != nil && (fnErr == nil || tx.failed) {
		o.errors.Inc()
	}
	return err
}

// observedTx notes whether a call on the transaction failed.
type observedTx struct {
	store.Tx
	failed bool
}

func (t *observedTx) Get(bucket, key []byte) ([]byte, error) {
	v, err := t.Tx.Get(bucket, key)
	t.note(err)
	return v, err
}

func (t *observedTx) Lend(bucket, key []byte) ([]byte, error) {
	v, err := store.Lend(t.Tx, bucket, key)
	t.note(err)
	return v, err
}

func (t *observedTx) Has(bucket, key []byte) (bool, error) {
	ok, err := store.Has(t.Tx, bucket, key)
	t.note(err)
	return ok, err
}

func (t *observedTx) Put(bucket, key, value []byte) error {
	err := t.Tx.Put(bucket, key, value)
	t.note(err)
	return err
}

func (t *observedTx) Delete(bucket, key []byte) error {
	err := t.Tx.Delete(bucket, key)
	t.note(err)
	return err
}

func (t *observedTx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	kvs, err := t.Tx.Scan(bucket, prefix, after, limit)
	t.note(err)
	return kvs, err
}

func (t *observedTx) note(err error) {
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.failed = true
	}
}
