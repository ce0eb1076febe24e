package audit

import "time"

// noteQueued raises the queue's high-water mark to n records.
func (l *Log) noteQueued(n int64) {
	for {
		high := l.queueHigh.Load()
		if n <= high || l.queueHigh.CompareAndSwap(high, n) {
			return
		}
	}
}

// noteWait counts an Append that waited for room in the queue since start.
func (l *Log) noteWait(start time.Time) {
	l.waited.Add(1)
	l.waitSum.Add(int64(time.Since(start)))
}
