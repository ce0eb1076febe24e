package audit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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
	DefaultTimeout   = 2 * time.Second
	// DefaultHeadInterval is how often the head file is brought up to date.
	DefaultHeadInterval = time.Second
)

// retryInterval is how soon the writer retries records it could not write
// when no new record arrives to trigger a batch.
const retryInterval = 500 * time.Millisecond

var (
	// ErrClosed is returned by Append and Close after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrTimeout is returned by Append when the writer did not take (or,
	// with FailClosed, did not make durable) the record within
	// Options.Timeout.
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

	// openFile opens the log file; tests replace it to inject failures.
	openFile func(name string, flag int, perm fs.FileMode) (logFile, error)
}

// logFile is the part of *os.File the writer uses.
type logFile interface {
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
	if o.openFile == nil {
		o.openFile = func(name string, flag int, perm fs.FileMode) (logFile, error) {
			return os.OpenFile(name, flag, perm)
		}
	}
	return o
}

// Stats counts what a Log has done since it was opened.
type Stats struct {
	Records   uint64 // records written and fsynced
	Batches   uint64 // successful write+fsync rounds
	Failed    uint64 // batches whose write or fsync failed
	Dropped   uint64 // records given up on (never written)
	Reopened  uint64 // times the file was found moved or deleted and recreated
	TornBytes int64  // bytes of a torn last line cut away by OpenFile
}

// Log appends events to a hash-chained JSON-lines file. Append is safe for
// concurrent use; one goroutine owns the file.
type Log struct {
	path string
	opts Options

	queue   chan *pending
	closed  atomic.Bool
	senders atomic.Int64 // Appends between their closed check and their send
	done    chan struct{}
	err     error // the writer's final error, read after done

	records, batches, failed, dropped, reopened atomic.Uint64
	torn                                        int64

	w writer // owned by the writer goroutine
}

// pending is one record on its way to the writer.
type pending struct {
	body []byte
	ack  chan error // nil unless FailClosed
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
		path:  path,
		opts:  opts,
		queue: make(chan *pending, opts.QueueSize),
		done:  make(chan struct{}),
	}
	l.w = writer{log: l, path: path, headPath: path + headSuffix}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: create log directory: %w", err)
	}
	if err := l.w.recover(); err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
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
func (l *Log) Append(ev *Event) error {
	if ev == nil {
		return errors.New("audit: nil event")
	}
	if l.closed.Load() {
		return ErrClosed
	}
	ev.fill(l.opts.Now)
	body, err := ev.MarshalJSON()
	if err != nil {
		return fmt.Errorf("audit: encode event %s: %w", ev.EventID, err)
	}
	if len(body) > MaxRecordSize {
		return fmt.Errorf("audit: event %s is %d bytes, over the %d-byte limit", ev.EventID, len(body), MaxRecordSize)
	}
	p := &pending{body: body}
	if l.opts.FailClosed {
		p.ack = make(chan error, 1)
	}

	var timer *time.Timer
	l.senders.Add(1)
	if l.closed.Load() {
		l.senders.Add(-1)
		return ErrClosed
	}
	select {
	case l.queue <- p:
	default:
		timer = time.NewTimer(l.opts.Timeout)
		select {
		case l.queue <- p:
		case <-timer.C:
			l.senders.Add(-1)
			return fmt.Errorf("%w: audit queue full for %v (event %s)", ErrTimeout, l.opts.Timeout, ev.EventID)
		}
	}
	l.senders.Add(-1)
	if p.ack == nil {
		return nil
	}
	if timer == nil {
		timer = time.NewTimer(l.opts.Timeout)
	}
	defer timer.Stop()
	select {
	case err := <-p.ack:
		if err != nil {
			return fmt.Errorf("audit: event %s not written: %w", ev.EventID, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: event %s not durable after %v", ErrTimeout, ev.EventID, l.opts.Timeout)
	}
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
		Records:   l.records.Load(),
		Batches:   l.batches.Load(),
		Failed:    l.failed.Load(),
		Dropped:   l.dropped.Load(),
		Reopened:  l.reopened.Load(),
		TornBytes: l.torn,
	}
}
