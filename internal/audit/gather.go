package audit

import "time"

// Announce tells the writer that the caller will append one record soon,
// with AppendAnnounced, or take the announcement back with Withdraw. With
// FailClosed, a batch waits (at most CommitDelay) for the announced records
// still to come: callers served together share one fsync, and a batch whose
// callers are all in is written at once rather than held back for more.
func (l *Log) Announce() { l.coming.Add(1) }

// Withdraw takes back an Announce whose record will not be appended.
func (l *Log) Withdraw() { l.arrived() }

// AppendAnnounced is Append for a record announced with Announce; it
// settles the announcement however it returns.
func (l *Log) AppendAnnounced(ev *Event) error { return l.append(ev, true) }

// arrived settles one announcement, waking a writer that waits for the
// last one.
func (l *Log) arrived() {
	if l.coming.Add(-1) == 0 {
		select {
		case l.settled <- struct{}{}:
		default:
		}
	}
}

// gather adds queued records to batch, up to MaxBatch. open is false once
// the queue is closed. How long it waits for more:
//   - FlushInterval, when set, always;
//   - with FailClosed, until no announced record is still to come and the
//     batch holds as many records as the last one, up to CommitDelay. The
//     first rule answers a few concurrent callers as soon as they are all
//     in; the second keeps batches large under steady load (a moment with
//     no request in progress is no sign that none will come), and callers
//     that do not announce still arrive together;
//   - otherwise not at all: the batch is what is queued.
func (w *writer) gather(batch []*pending) (_ []*pending, open bool) {
	l := w.log
	switch {
	case l.opts.FlushInterval > 0:
		batch, open = w.linger(batch, l.opts.FlushInterval, l.opts.MaxBatch)
	case l.opts.FailClosed && l.opts.CommitDelay > 0:
		batch, open = w.linger(batch, l.opts.CommitDelay, w.lastBatch)
	default:
		batch, open = w.drain(batch)
	}
	w.lastBatch = len(batch)
	return batch, open
}

// linger gathers records for up to d, and less once the batch holds want
// records and none announced is still to come.
func (w *writer) linger(batch []*pending, d time.Duration, want int) (_ []*pending, open bool) {
	l := w.log
	// done takes what is queued once no announced record is to come (the
	// count drops after each send, so they are all queued by then) and
	// says whether the batch is complete.
	done := func() bool {
		if l.coming.Load() > 0 {
			return len(batch) >= l.opts.MaxBatch
		}
		batch, open = w.drain(batch)
		return !open || len(batch) >= want || len(batch) >= l.opts.MaxBatch
	}
	if batch, open = w.drain(batch); !open || done() {
		return batch, open
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case p, ok := <-l.queue:
			if !ok {
				return batch, false
			}
			batch = append(batch, p)
		case <-l.settled:
		case <-t.C:
			return batch, true
		}
		if done() {
			return batch, open
		}
	}
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
