package audit

import (
	"sync/atomic"
	"testing"
	"time"
)

// Stats tells a metrics scrape how many records wait to become durable
// and how long they waited: a writer that lingers for a batch shows as
// queued records and as lag at least as long as the linger.
func TestStatsQueuedAndDurableLag(t *testing.T) {
	const linger = 200 * time.Millisecond
	l := openLog(t, logPath(t), Options{FlushInterval: linger})
	appendN(t, l, "a", 3)
	if st := l.Stats(); st.Queued != 3 || st.Records != 0 {
		t.Fatalf("right after 3 Appends: Queued %d Records %d, want 3 and 0", st.Queued, st.Records)
	}
	waitFor(t, func() bool { return l.Stats().Records == 3 })
	st := l.Stats()
	if st.Queued != 0 {
		t.Errorf("Queued = %d once all are durable, want 0", st.Queued)
	}
	if st.LastDurableLag < linger || st.LastDurableLag > 10*time.Second {
		t.Errorf("LastDurableLag = %v, want at least the %v linger", st.LastDurableLag, linger)
	}
	if st.DurableLag < st.LastDurableLag {
		t.Errorf("DurableLag %v is less than LastDurableLag %v", st.DurableLag, st.LastDurableLag)
	}
}

// Records kept for a retry after a failed write stay queued until the
// retry writes them, and the failed batches are counted.
func TestStatsQueuedWhileRetrying(t *testing.T) {
	ff := faultyFile{failWrites: new(atomic.Int32)}
	ff.failWrites.Store(1 << 30)
	opts := Options{}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, logPath(t), opts)
	appendN(t, l, "a", 2)
	waitFor(t, func() bool { return l.Stats().Failed > 0 })
	if st := l.Stats(); st.Queued != 2 {
		t.Errorf("Queued = %d while both records wait for a retry, want 2", st.Queued)
	}
	ff.failWrites.Store(0)
	waitFor(t, func() bool { return l.Stats().Records == 2 })
	if st := l.Stats(); st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("after the retry: %+v, want nothing queued or dropped", st)
	}
}

// A fail-closed batch that cannot be written is given up on (each caller
// hears of it), so it leaves the queue.
func TestStatsFailClosedFailureLeavesQueue(t *testing.T) {
	ff := faultyFile{failWrites: new(atomic.Int32)}
	ff.failWrites.Store(1 << 30)
	opts := Options{FailClosed: true}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, logPath(t), opts)
	if err := l.Append(testEvent("r1")); err == nil {
		t.Fatal("Append on a failing file succeeded")
	}
	if st := l.Stats(); st.Queued != 0 || st.Failed == 0 {
		t.Errorf("stats %+v, want Failed > 0 and nothing queued", st)
	}
}
