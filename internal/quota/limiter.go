package quota

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limiter holds one token bucket per account, Region and quota. A bucket
// holds one second of its rate (at least one request), so a quota of N
// requests per second admits a burst of N and then N each second, as AWS
// counts them. A nil *Limiter admits everything.
type Limiter struct {
	rates Rates
	now   func() time.Time

	buckets sync.Map // bucketKey → *rate.Limiter
	size    atomic.Int64
	// sweepAt is the bucket count at which idle buckets are dropped.
	sweepAt  atomic.Int64
	sweeping sync.Mutex
}

type bucketKey struct{ account, region, name string }

// minSweep is the bucket count below which no sweep runs.
const minSweep = 4096

// New returns a Limiter enforcing r, or nil when r limits nothing.
func New(r Rates) *Limiter {
	if r.Off() {
		return nil
	}
	l := &Limiter{rates: r, now: time.Now}
	l.sweepAt.Store(minSweep)
	return l
}

// Allow takes one request from the bucket of quota name for account in
// region, and reports whether there was one. Quotas the setting does not
// limit always allow.
func (l *Limiter) Allow(account, region, name string) bool {
	if l == nil {
		return true
	}
	k := bucketKey{account, region, name}
	if b, ok := l.buckets.Load(k); ok {
		return b.(*rate.Limiter).AllowN(l.now(), 1)
	}
	r := l.rates.Rate(name, region)
	if math.IsInf(r, 1) {
		return true
	}
	b, loaded := l.buckets.LoadOrStore(k, rate.NewLimiter(rate.Limit(r), int(max(1, math.Ceil(r)))))
	if !loaded && l.size.Add(1) >= l.sweepAt.Load() {
		l.sweep()
	}
	return b.(*rate.Limiter).AllowN(l.now(), 1)
}

// sweep drops full buckets, which are the same as fresh ones, so the map
// stays as large as the set of recently busy (account, Region, quota)
// triples, whatever Regions and accounts requests name. A request racing
// the removal of its bucket may get one request more than the quota.
func (l *Limiter) sweep() {
	if !l.sweeping.TryLock() {
		return
	}
	defer l.sweeping.Unlock()
	now := l.now()
	l.buckets.Range(func(k, v any) bool {
		b := v.(*rate.Limiter)
		if b.TokensAt(now) >= float64(b.Burst()) && l.buckets.CompareAndDelete(k, v) {
			l.size.Add(-1)
		}
		return true
	})
	l.sweepAt.Store(max(minSweep, 2*l.size.Load()))
}
