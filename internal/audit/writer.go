package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// writer is the state of a Log's single writer goroutine.
type writer struct {
	log      *Log
	path     string
	headPath string
	// headDue is when the head file must next be rewritten; headStale says
	// the log has records the head file does not yet describe.
	headDue   time.Time
	headStale bool

	f     File
	fi    fs.FileInfo // identity of f, compared with os.Stat(path)
	size  int64       // bytes of f known to be ours and durable
	dirty bool        // f may hold bytes past size from a failed write

	start link // chain position before f's first record
	last  link // last durable record

	buf       []byte
	lastBatch int // records in the last batch gathered
	hasher    chainHasher
	retry     []*pending // unwritten records (FailClosed off)
	retryDue  time.Time  // when to try them again without a new batch

	dig *digester // signed digests; nil without Options.Signer
}

// recover opens the log at startup and finds where the chain stands.
func (w *writer) recover() error {
	h, haveHead, err := readHead(w.headPath)
	if err != nil {
		return fmt.Errorf("%w; check the log with VerifyFile, then move both files aside", err)
	}
	if err := w.open(); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			w.f.Close()
		}
	}()

	nl, err := lastNewline(w.f, w.size)
	if err != nil {
		return err
	}
	if torn := w.size - (nl + 1); torn > 0 {
		// The last batch never finished its fsync, so nobody was told its
		// records were kept: cut the partial line away.
		if err := w.f.Truncate(nl + 1); err != nil {
			return fmt.Errorf("cut torn last line: %w", err)
		}
		if err := w.f.Sync(); err != nil {
			return err
		}
		w.size = nl + 1
		w.log.torn = torn
		w.log.opts.Logger.Warn("audit log ended in a torn line; cut it away", "path", w.path, "bytes", torn)
	}

	if w.size == 0 {
		if haveHead {
			w.start, w.last = h.last, h.last
			if h.last.seq != h.start.seq {
				w.log.opts.Logger.Warn("audit log is empty but its head file records earlier records; continuing the chain (was it rotated while stopped?)",
					"path", w.path, "headSeq", h.last.seq)
			}
		}
		ok = true
		return nil
	}

	first, err := readRecordAt(w.f, w.size, true)
	if err != nil {
		return fmt.Errorf("first line: %w", err)
	}
	last, err := readRecordAt(w.f, w.size, false)
	if err != nil {
		return fmt.Errorf("last line: %w", err)
	}
	w.start = link{seq: first.seq - 1, hash: first.prev}
	w.last = link{seq: last.seq, hash: last.hash}
	if haveHead {
		switch {
		case h.start != w.start:
			return fmt.Errorf("log starts after seq %d but its head file says after seq %d: records were removed or the file replaced; run VerifyFile",
				w.start.seq, h.start.seq)
		case h.last.seq > w.last.seq:
			return fmt.Errorf("log ends at seq %d but its head file records seq %d: the tail was truncated; run VerifyFile",
				w.last.seq, h.last.seq)
		case h.last.seq == w.last.seq && h.last.hash != w.last.hash:
			return fmt.Errorf("last record (seq %d) differs from its head file; run VerifyFile", w.last.seq)
		}
	}
	ok = true
	return nil
}

// readRecordAt reads and checks the first or last complete line of f.
func readRecordAt(f File, size int64, wantFirst bool) (parsedLine, error) {
	var line []byte
	var err error
	if wantFirst {
		line, err = firstLine(f, size)
	} else {
		line, err = lineEndingAt(f, size-1)
	}
	if err != nil {
		return parsedLine{}, err
	}
	p, err := parseLine(line)
	if err != nil {
		return p, err
	}
	if !p.check() {
		return p, fmt.Errorf("record seq %d does not match its hash; run VerifyFile", p.seq)
	}
	return p, nil
}

// open opens or creates the file at path for appending.
func (w *writer) open() error {
	_, statErr := os.Stat(w.path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := w.log.opts.OpenLogFile(w.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if created {
		// Make the new directory entry durable along with the records.
		if d, err := os.Open(filepath.Dir(w.path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	w.f, w.fi, w.size, w.dirty = f, fi, fi.Size(), false
	return nil
}

// run is the writer goroutine: take a batch, commit it, do what is due
// (retries, the head file, a signed digest), repeat until the queue is
// closed and drained.
func (w *writer) run() {
	l := w.log
	defer close(l.done)
	batch := make([]*pending, 0, l.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var timerC <-chan time.Time
		if due := w.nextDue(); !due.IsZero() {
			timer.Reset(time.Until(due))
			timerC = timer.C
		}
		open := true
		select {
		case p, ok := <-l.queue:
			if ok {
				batch = append(batch, p)
				batch, open = w.gather(batch)
			} else {
				open = false
			}
		case <-timerC:
		}
		timer.Stop()
		if len(batch) > 0 || len(w.retry) > 0 && !time.Now().Before(w.retryDue) {
			w.commit(batch)
			clear(batch)
			batch = batch[:0]
		}
		if !open {
			l.err = w.shutdown()
			return
		}
		w.periodic()
	}
}

// nextDue is when the writer must next wake without a record: the zero
// time if never.
func (w *writer) nextDue() time.Time {
	var due time.Time
	earliest := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	if len(w.retry) > 0 {
		earliest(w.retryDue)
	}
	if w.headStale {
		earliest(w.headDue)
	}
	if w.dig != nil {
		earliest(w.dig.due(w.last.seq))
	}
	return due
}

// periodic does the head file update and the digest that are due.
func (w *writer) periodic() {
	now := time.Now()
	// The digest first: noticing a rotated log on the way makes the head
	// file stale, and it is then rewritten at once.
	if w.dig != nil && !now.Before(w.dig.due(w.last.seq)) {
		_ = w.writeDigest()
	}
	if w.headStale && !now.Before(w.headDue) {
		_ = w.syncHead(true)
	}
}

// commit chains, writes and fsyncs the retried records and batch as one
// write, updates the head file, and acknowledges.
func (w *writer) commit(batch []*pending) {
	l := w.log
	n := len(w.retry) + len(batch)
	if n == 0 {
		return
	}
	err := w.prepare()
	var wrote bool
	if err == nil {
		w.buf = w.buf[:0]
		next := w.last
		for _, p := range w.retry {
			next.seq++
			w.buf, next.hash = w.hasher.appendLine(w.buf, p.body, next.seq, &next.hash)
		}
		for _, p := range batch {
			next.seq++
			w.buf, next.hash = w.hasher.appendLine(w.buf, p.body, next.seq, &next.hash)
		}
		first, offset := w.last.seq+1, w.size
		if err = w.write(w.buf); err == nil {
			wrote = true
			w.last = next
			if l.opts.Durable != nil {
				l.opts.Durable(first, offset, w.buf)
			}
			if w.dig != nil {
				w.dig.note(w.retry)
				w.dig.note(batch)
			}
			w.noteLag(batch)
			clear(w.retry)
			w.retry = w.retry[:0]
			l.unwritten.Add(-int64(n))
			l.records.Add(uint64(n))
			l.batches.Add(1)
			w.headStale = true
			if herr := w.syncHead(false); herr != nil {
				err = herr
			}
		}
	}
	if !wrote {
		l.health.set(&l.health.write, err)
		l.opts.Logger.Error("audit write failed", "path", w.path, "records", n, "error", err)
		l.failed.Add(1)
		w.retryDue = time.Now().Add(retryInterval)
		if l.opts.FailClosed {
			l.unwritten.Add(-int64(len(batch))) // each caller is told
		} else {
			w.keepForRetry(batch)
		}
	} else {
		l.health.set(&l.health.write, nil)
	}
	for _, p := range batch {
		if p.ack != nil {
			p.ack <- err
		}
	}
}

// noteLag adds the time each record of the retried records and batch
// waited, from Append to now that it is durable, to the Log's stats.
func (w *writer) noteLag(batch []*pending) {
	now := time.Now()
	var sum, longest time.Duration
	for _, ps := range [][]*pending{w.retry, batch} {
		for _, p := range ps {
			lag := now.Sub(p.queued)
			sum += lag
			longest = max(longest, lag)
		}
	}
	w.log.lagSum.Add(int64(sum))
	w.log.lastLag.Store(int64(longest))
}

// keepForRetry keeps the bodies of an unwritten batch, up to QueueSize
// records in all; the rest are dropped and counted.
func (w *writer) keepForRetry(batch []*pending) {
	l := w.log
	room := l.opts.QueueSize - len(w.retry)
	if room < len(batch) {
		dropped := len(batch) - max(room, 0)
		l.dropped.Add(uint64(dropped))
		l.unwritten.Add(-int64(dropped))
		l.opts.Logger.Error("audit records dropped after repeated write failures", "path", w.path, "records", dropped)
		batch = batch[:max(room, 0)]
	}
	w.retry = append(w.retry, batch...)
}

// prepare makes sure f is the file at path, reopening it if the file was
// moved or deleted, and that f ends where the chain says it does.
func (w *writer) prepare() error {
	l := w.log
	if w.f != nil {
		st, err := os.Stat(w.path)
		switch {
		case err == nil && os.SameFile(st, w.fi):
			return w.reconcile(st.Size())
		case err == nil || errors.Is(err, fs.ErrNotExist):
			l.opts.Logger.Warn("audit log was moved or deleted; starting a new file that continues the chain",
				"path", w.path, "seq", w.last.seq)
			w.f.Close()
			w.f = nil
			l.reopened.Add(1)
			w.headStale = true
		default:
			return fmt.Errorf("stat audit log: %w", err)
		}
	}
	if err := w.open(); err != nil {
		return err
	}
	if w.size != 0 {
		l.opts.Logger.Warn("audit log path holds a file kmsd did not write; appending to it", "path", w.path, "bytes", w.size)
	}
	w.start = w.last
	return nil
}

// reconcile handles a size of our file other than the one we wrote.
func (w *writer) reconcile(size int64) error {
	l := w.log
	switch {
	case w.dirty:
		if err := w.f.Truncate(w.size); err != nil {
			return fmt.Errorf("cut failed write: %w", err)
		}
		w.dirty = false
	case size < w.size:
		// Truncated in place (copytruncate rotation, or worse): what
		// follows starts a new stretch of the chain in this file.
		l.opts.Logger.Warn("audit log shrank outside kmsd; continuing the chain", "path", w.path,
			"from", w.size, "to", size, "seq", w.last.seq)
		w.size = size
		w.start = w.last
		w.headStale = true
	case size > w.size:
		l.opts.Logger.Warn("audit log grew outside kmsd", "path", w.path, "from", w.size, "to", size)
		w.size = size
	}
	return nil
}

// write appends b to f and fsyncs. On failure it cuts f back to the last
// durable record so the chain in the file stays intact.
func (w *writer) write(b []byte) error {
	_, err := w.f.Write(b)
	if err == nil {
		err = w.f.Sync()
	}
	if err == nil {
		w.size += int64(len(b))
		return nil
	}
	if terr := w.f.Truncate(w.size); terr != nil {
		w.dirty = true
	}
	return err
}

// syncHead rewrites the head file if it is stale and due (or force).
func (w *writer) syncHead(force bool) error {
	l := w.log
	if !w.headStale || (!force && l.opts.HeadInterval > 0 && time.Now().Before(w.headDue)) {
		return nil
	}
	err := writeHead(w.headPath, head{start: w.start, last: w.last})
	l.health.set(&l.health.head, err)
	if err != nil {
		w.headDue = time.Now().Add(retryInterval)
		l.headFailed.Add(1)
		l.opts.Logger.Error("audit head file update failed", "path", w.headPath, "error", err)
		return fmt.Errorf("update head file: %w", err)
	}
	w.headStale = false
	w.headDue = time.Now().Add(l.opts.HeadInterval)
	return nil
}

// shutdownAttempts is how often Close tries to write records that failed.
const shutdownAttempts = 3

// shutdown makes last attempts at retried records and closes the file.
func (w *writer) shutdown() error {
	l := w.log
	var err error
	if len(w.retry) > 0 {
		for attempt := 0; attempt < shutdownAttempts && len(w.retry) > 0; attempt++ {
			if attempt > 0 {
				time.Sleep(retryInterval / 5)
			}
			w.commit(nil)
		}
		if n := len(w.retry); n > 0 {
			l.dropped.Add(uint64(n))
			l.unwritten.Add(-int64(n))
			l.opts.Logger.Error("audit records dropped at close after repeated write failures", "path", w.path, "records", n)
			err = fmt.Errorf("audit: %d records could not be written", n)
		}
	}
	if w.dig != nil {
		if derr := w.closeDigests(); err == nil && derr != nil {
			err = fmt.Errorf("audit: %w", derr)
		}
	}
	if herr := w.syncHead(true); err == nil && herr != nil {
		err = fmt.Errorf("audit: %w", herr)
	}
	if w.f != nil {
		if cerr := w.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit: close %s: %w", w.path, cerr)
		}
	}
	return err
}

// hexHash is the text form of a chain hash.
func hexHash(h [hashSize]byte) string { return hex.EncodeToString(h[:]) }
