package audit

import "time"

// Announce tells the writer that the caller will append one record soon,
// with AppendAnnounced, or take the announcement back with Withdraw. With
// FailClosed, a batch waits (at most CommitDelay) for the announced records
// still to come and is committed as soon as none is: callers served
// together share one fsync, and a batch whose callers are all in is not
// held back waiting for more.
func (l *Log) Announce() { l.coming.Add(1) }

// Withdraw takes back an Announce whose record will not be appended.
func (l *Log) Withdraw() { l.coming.Add(-1) }

// AppendAnnounced is Append for a record announced with Announce; it
// settles the announcement however it returns.
func (l *Log) AppendAnnounced(ev *Event) error { return l.append(ev, true) }

// gather adds queued records to batch, up to MaxBatch. open is false once
// the queue is closed. How long it waits for more:
//   - FlushInterval, when set, always;
//   - with FailClosed, while announced records are still to come, up to
//     CommitDelay; and the whole CommitDelay when the last batch held
//     several records that were not announced (callers that cannot say
//     they are coming still arrive together);
//   - otherwise not at all: the batch is what is queued.
func (w *writer) gather(batch []*pending) (_ []*pending, open bool) {
	l := w.log
	switch {
	case l.opts.FlushInterval > 0:
		batch, open = w.linger(batch, l.opts.FlushInterval, false)
	case l.opts.FailClosed && l.opts.CommitDelay > 0:
		batch, open = w.linger(batch, l.opts.CommitDelay, w.unannounced <= 1)
	default:
		batch, open = w.drain(batch)
	}
	w.unannounced = countUnannounced(batch)
	return batch, open
}

// linger gathers records for up to d. With untilArrived it stops as soon as
// no announced record is still to come.
func (w *writer) linger(batch []*pending, d time.Duration, untilArrived bool) (_ []*pending, open bool) {
	l := w.log
	if batch, open = w.drain(batch); !open || len(batch) >= l.opts.MaxBatch {
		return batch, open
	}
	if untilArrived && l.coming.Load() <= 0 {
		return batch, true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for len(batch) < l.opts.MaxBatch {
		select {
		case p, ok := <-l.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, p)
			if untilArrived && l.coming.Load() <= 0 {
				// The count drops just before a record is sent, so the
				// last arrivals may still be on their way in: take
				// whatever is queued.
				return w.drain(batch)
			}
		case <-t.C:
			return batch, true
		}
	}
	return batch, true
}

// drain adds what is queued now, without waiting.
func (w *writer) drain(batch []*pending) (_ []*pending, open bool) {
	for len(batch) < w.log.opts.MaxBatch {
		select {
		case p, ok := <-w.log.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, p)
		default:
			return batch, true
		}
	}
	return batch, true
}

func countUnannounced(batch []*pending) int {
	n := 0
	for _, p := range batch {
		if !p.announced {
			n++
		}
	}
	return n
}
