package audit

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// MaxRecordSize bounds the JSON encoding of one event. CloudTrail itself
// delivers events of at most 256 KB; kmsd allows more room.
const MaxRecordSize = 1 << 20

// Defaults for Options fields left zero.
const (
	DefaultMaxBatch  = 256
	DefaultQueueSize = 4096
	// DefaultTimeout is the stated deadline of back-pressure: how long a
	// caller waits for room in the queue and, with FailClosed, for its
	// record's fsync before Append gives up with ErrTimeout. It outlasts a
	// slow fsync on a busy disk (seconds) and stays well inside the AWS
	// SDKs' own timeouts (none by default in Go and JavaScript, 60 s read
	// timeout in botocore), so a stall slows callers down instead of
	// failing them.
	DefaultTimeout = 10 * time.Second
	// DefaultCommitDelay is Options.CommitDelay's default.
	DefaultCommitDelay = 2 * time.Millisecond
	// DefaultHeadInterval is how often the head file is brought up to date.
	DefaultHeadInterval = time.Second
	// DefaultDigestInterval is how often a signed digest is written while
	// records arrive.
	DefaultDigestInterval = time.Minute
	// DefaultDigestIdleInterval is how often a signed digest is written
	// when no record arrived, as CloudTrail writes digests for empty
	// periods: it shows the trail was alive and recorded nothing.
	DefaultDigestIdleInterval = time.Hour
)

// retryInterval is how soon the writer retries records it could not write
// when no new record arrives to trigger a batch.
const retryInterval = 500 * time.Millisecond

var (
	// ErrClosed is returned by Append and Close after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrTimeout is returned by Append when the writer did not take (or,
	// with FailClosed, did not make durable) the record within
	// Options.Timeout: back-pressure, not a failed write. A server answers
	// it with a retriable throttling error; the record may still be
	// written.
	ErrTimeout = errors.New("audit: timed out")
)

// Options configure a Log.
type Options struct {
	// FailClosed makes Append wait until the record's batch is written and
	// fsynced, and return the error if it was not, so the caller can refuse
	// to answer an unaudited request. Without it, Append returns once the
	// record is queued, and records that fail to write are retried (up to
	// QueueSize of them) and reported through Logger and Stats.
	FailClosed bool
	// MaxBatch is the most records written with one write and one fsync
	// (default DefaultMaxBatch).
	MaxBatch int
	// FlushInterval is how long the writer may wait, after the first record
	// of a batch arrives, for the batch to fill before writing it. Zero
	// writes as soon as the queue is empty; records still batch up while a
	// previous batch is being fsynced.
	FlushInterval time.Duration
	// CommitDelay, with FailClosed and no FlushInterval, is the longest
	// the writer waits for more records after the first of a batch: until
	// no record announced with Announce is still to come and the batch
	// holds as many records as the last one. Under concurrent load one
	// fsync then answers more callers; a lone caller, or a batch whose
	// callers are all in, does not wait (default DefaultCommitDelay;
	// negative: never).
	CommitDelay time.Duration
	// HeadInterval is how often, at most, the head file is rewritten
	// (default DefaultHeadInterval; negative: after every batch). Rewriting
	// it costs a file creation, an fsync and a rename, so doing it per
	// batch would dominate the audit cost; a head file that lags the log by
	// up to HeadInterval still detects any truncation older than that.
	// Close always brings it up to date.
	HeadInterval time.Duration
	// Now supplies eventTime for events that have none (default time.Now).
	Now func() time.Time
	// QueueSize is the capacity of the queue between Append and the writer
	// (default DefaultQueueSize).
	QueueSize int
	// Timeout bounds how long Append blocks: on a full queue, and with
	// FailClosed, for durability (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives warnings and write errors (default: discarded). It
	// never sees record contents.
	Logger *slog.Logger

	// Signer, when set, signs a digest of the chain into <path>.digests
	// every DigestInterval while records arrive, every DigestIdleInterval
	// otherwise, and at Close; its public key is written to
	// <path>.digest-public.pem. Its key must be Ed25519 (such as an
	// ed25519.PrivateKey, which the caller keeps sealed) or ECDSA P-256.
	Signer crypto.Signer
	// DigestInterval is the most time between records becoming durable
	// and a signed digest covering them (default DefaultDigestInterval).
	DigestInterval time.Duration
	// DigestIdleInterval is how often a digest is written when there are
	// no new records (default DefaultDigestIdleInterval).
	DigestIdleInterval time.Duration
	// Anchor, which needs Signer, keeps the newest digest's position
	// outside the log directory; see Anchor for the contract. OpenFile
	// refuses a log or digests file that ends before it.
	Anchor Anchor

	// Durable, when set, is called on the writer goroutine after each batch
	// is written and fsynced, before it is acknowledged (with FailClosed,
	// before its Appends return): firstSeq is the seq of the batch's first
	// record, offset where its lines start in the file at path, and lines
	// the bytes written, each line ending in '\n'. It must return quickly
	// and must not keep lines, which the writer reuses: an index copies the
	// batch and does its work elsewhere.
	Durable func(firstSeq uint64, offset int64, lines []byte)

	// OpenLogFile opens the log file (default os.OpenFile); tests replace
	// it to inject failures and slow disks.
	OpenLogFile func(name string, flag int, perm fs.FileMode) (File, error)
}

// File is the part of *os.File the writer uses.
type File interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

func (o Options) withDefaults() Options {
	if o.HeadInterval == 0 {
		o.HeadInterval = DefaultHeadInterval
	}
	if o.DigestInterval <= 0 {
		o.DigestInterval = DefaultDigestInterval
	}
	if o.DigestIdleInterval <= 0 {
		o.DigestIdleInterval = DefaultDigestIdleInterval
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = DefaultCommitDelay
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OpenLogFile == nil {
		o.OpenLogFile = func(name string, flag int, perm fs.FileMode) (File, error) {
			return os.OpenFile(name, flag, perm)
		}
	}
	return o
}

// Stats counts what a Log has done since it was opened.
type Stats struct {
	Records uint64 // records written and fsynced
	Batches uint64 // successful write+fsync rounds
	Failed  uint64 // batches whose write or fsync failed
	// Dropped counts records given up on, never to be written: refused
	// by Append (closed log, full queue, unencodable event) or left after
	// repeated write failures.
	Dropped uint64
	// TimedOut counts FailClosed Appends that returned ErrTimeout while
	// their record was queued (it may still be written).
	TimedOut     uint64
	Reopened     uint64 // times the file was found moved or deleted and recreated
	TornBytes    int64  // bytes of a torn last line cut away by OpenFile
	HeadFailed   uint64 // failed head file updates
	Digests      uint64 // signed digests written
	DigestFailed uint64 // digests that could not be signed or written
	AnchorFailed uint64 // failed Anchor.Save calls
	// Queued counts records taken by Append and neither durable nor
	// given up on yet: in the queue, in a batch being written, or kept
	// for a retry after a failed write.
	Queued int64
	// DurableLag sums, over the Records written, the time from Append
	// to the end of the fsync that made each durable; divided by Records
	// it is the mean lag. LastDurableLag is the longest lag of the last
	// batch written.
	DurableLag, LastDurableLag time.Duration
	// QueueHigh is the most records Queued at once: how much of
	// Options.QueueSize the load has needed.
	QueueHigh int64
	// Waited counts Appends that found the queue full and waited for
	// room (back-pressure); WaitTime sums how long they waited.
	Waited   uint64
	WaitTime time.Duration
}

// Log appends events to a hash-chained JSON-lines file. Append is safe for
// concurrent use; one goroutine owns the file.
type Log struct {
	path string
	opts Options

	queue   chan *pending
	timers  sync.Pool // stopped *time.Timers for Append's deadline
	closed  atomic.Bool
	senders atomic.Int64  // Appends between their closed check and their send
	coming  atomic.Int64  // records announced and not yet sent (see Announce)
	settled chan struct{} // a token when coming drops to zero, to wake the writer
	done    chan struct{}
	err     error // the writer's final error, read after done

	records, batches, failed, dropped, reopened atomic.Uint64
	timedOut, headFailed                        atomic.Uint64
	digests, digestFailed, anchorFailed         atomic.Uint64
	unwritten, lagSum, lastLag                  atomic.Int64
	queueHigh, waitSum                          atomic.Int64
	waited                                      atomic.Uint64
	torn                                        int64
	health                                      health

	w writer // owned by the writer goroutine
}

// pending is one record on its way to the writer.
type pending struct {
	body   []byte
	at     time.Time  // eventTime, for the digest's event time range
	queued time.Time  // when Append took it, for Stats.DurableLag
	ack    chan error // nil unless FailClosed
}

// OpenFile opens (creating it 0600, its directory 0700, if needed) the log
// at path and starts its writer. An existing log is continued: its last
// line gives the chain position. A torn last line left by a crash is cut
// away and reported through Options.Logger and Stats.TornBytes. OpenFile
// refuses a log whose ends do not match its head file or whose last record
// does not hash correctly, because writing on would bury the evidence; run
// VerifyFile and move the files aside.
func OpenFile(path string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	l := &Log{
		path:    path,
		opts:    opts,
		queue:   make(chan *pending, opts.QueueSize),
		settled: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	l.w = writer{log: l, path: path, headPath: path + headSuffix}
	if opts.Anchor != nil && opts.Signer == nil {
		return nil, errors.New("audit: an Anchor needs a Signer: the anchor records signed digests")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: create log directory: %w", err)
	}
	if err := l.w.recover(); err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	if opts.Signer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		err := l.w.openDigests(ctx)
		cancel()
		if err != nil {
			l.w.f.Close()
			return nil, fmt.Errorf("audit: open %s: %w", path, err)
		}
	}
	go l.w.run()
	return l, nil
}

// Append fills ev's constant fields (see NewEvent) and eventTime and
// eventID when empty, encodes it, and queues it for the writer. The caller
// may reuse ev once Append returns. With FailClosed, Append returns only
// after the record is durable, or with the reason it is not; a timed-out
// record may still be written later. Every wait is bounded by
// Options.Timeout.
func (l *Log) Append(ev *Event) error { return l.append(ev, false) }

func (l *Log) append(ev *Event, announced bool) error {
	if announced {
		// However it returns, the record is no longer to come.
		defer func() {
			if announced {
				l.arrived()
			}
		}()
	}
	if ev == nil {
		return errors.New("audit: nil event")
	}
	if l.closed.Load() {
		return l.drop(ev, ErrClosed)
	}
	ev.fill(l.opts.Now)
	body, err := ev.MarshalJSON()
	if err != nil {
		return l.drop(ev, fmt.Errorf("audit: encode event %s: %w", ev.EventID, err))
	}
	if len(body) > MaxRecordSize {
		return l.drop(ev, fmt.Errorf("audit: event %s is %d bytes, over the %d-byte limit", ev.EventID, len(body), MaxRecordSize))
	}
	p := &pending{body: body, at: ev.EventTime, queued: time.Now()}
	if l.opts.FailClosed {
		p.ack = make(chan error, 1)
	}

	timer, armed := l.timer(), false
	defer l.putTimer(timer)
	l.senders.Add(1)
	if l.closed.Load() {
		l.senders.Add(-1)
		return l.drop(ev, ErrClosed)
	}
	l.noteQueued(l.unwritten.Add(1)) // before the send: the writer may finish it at once
	select {
	case l.queue <- p:
	default:
		// Back-pressure: wait for room, within the same deadline that
		// bounds the wait for durability.
		timer.Reset(l.opts.Timeout)
		armed = true
		waitStart := time.Now()
		select {
		case l.queue <- p:
			l.noteWait(waitStart)
		case <-timer.C:
			l.noteWait(waitStart)
			l.senders.Add(-1)
			l.unwritten.Add(-1)
			return l.drop(ev, fmt.Errorf("%w: audit queue full for %v (event %s)", ErrTimeout, l.opts.Timeout, ev.EventID))
		}
	}
	l.senders.Add(-1)
	if announced {
		// After the send: a writer that finds none still to come has
		// every announced record in its queue.
		announced = false
		l.arrived()
	}
	if p.ack == nil {
		return nil
	}
	if !armed { // else the wait for room started the deadline
		timer.Reset(l.opts.Timeout)
	}
	select {
	case err := <-p.ack:
		if err != nil {
			return fmt.Errorf("audit: event %s not written: %w", ev.EventID, err)
		}
		return nil
	case <-timer.C:
		l.timedOut.Add(1)
		l.opts.Logger.Error("audit record not durable in time; it may still be written", "eventId", ev.EventID, "timeout", l.opts.Timeout)
		return fmt.Errorf("%w: event %s not durable after %v", ErrTimeout, ev.EventID, l.opts.Timeout)
	}
}

// timer returns a stopped timer; Append's deadline reuses timers rather
// than making one per record. Since Go 1.23 a stopped or reset timer
// delivers no stale tick.
func (l *Log) timer() *time.Timer {
	if t, ok := l.timers.Get().(*time.Timer); ok {
		return t
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

func (l *Log) putTimer(t *time.Timer) {
	t.Stop()
	l.timers.Put(t)
}

// drop counts and logs a record Append gives up on, and returns err.
func (l *Log) drop(ev *Event, err error) error {
	l.dropped.Add(1)
	l.opts.Logger.Error("audit record dropped", "eventId", ev.EventID, "eventName", ev.EventName, "error", err)
	return err
}

// Close stops accepting records, writes and fsyncs everything queued, and
// closes the file. It reports a failure to write queued records.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		<-l.done
		return ErrClosed
	}
	// Appends that passed their closed check are still sending; the writer
	// keeps draining until they have all finished.
	for l.senders.Load() != 0 {
		time.Sleep(50 * time.Microsecond)
	}
	close(l.queue)
	<-l.done
	return l.err
}

// Stats returns counters of the Log's activity.
func (l *Log) Stats() Stats {
	return Stats{
		Records:        l.records.Load(),
		Batches:        l.batches.Load(),
		Failed:         l.failed.Load(),
		Dropped:        l.dropped.Load(),
		TimedOut:       l.timedOut.Load(),
		Reopened:       l.reopened.Load(),
		TornBytes:      l.torn,
		HeadFailed:     l.headFailed.Load(),
		Digests:        l.digests.Load(),
		DigestFailed:   l.digestFailed.Load(),
		AnchorFailed:   l.anchorFailed.Load(),
		Queued:         l.unwritten.Load(),
		DurableLag:     time.Duration(l.lagSum.Load()),
		LastDurableLag: time.Duration(l.lastLag.Load()),
		QueueHigh:      l.queueHigh.Load(),
		Waited:         l.waited.Load(),
		WaitTime:       time.Duration(l.waitSum.Load()),
	}
}

// Health is nil while the Log keeps its trail: the last record write, head
// file update, digest and anchor save each succeeded (or none was due).
// Otherwise it says what failed most recently; it turns nil again once
// the failing step succeeds. A server reports it on its readiness probe.
func (l *Log) Health() error { return l.health.err() }

// health remembers the latest outcome of each kind of write.
type health struct {
	mu                          sync.Mutex
	write, head, digest, anchor error
}

// set records the outcome of one kind of write.
func (h *health) set(slot *error, err error) {
	h.mu.Lock()
	*slot = err
	h.mu.Unlock()
}

func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, e := range []struct {
		what string
		err  error
	}{{"record write", h.write}, {"head file update", h.head}, {"signed digest", h.digest}, {"anchor save", h.anchor}} {
		if e.err != nil {
			errs = append(errs, fmt.Errorf("audit %s failed: %w", e.what, e.err))
		}
	}
	return errors.Join(errs...)
}
