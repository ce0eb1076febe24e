package auditindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/boltmap"
)

// Defaults for Options fields left zero.
const (
	DefaultCommitInterval   = time.Second
	DefaultFreshnessTimeout = 2 * time.Second
	DefaultMaxQueue         = 64 << 20
	DefaultSyncInterval     = 5 * time.Second
)

// formatVersion is the version of the index file's layout; a file of
// another version is rebuilt.
const formatVersion = 6

// Bucket names of the index file.
var (
	bucketMeta     = []byte("meta")
	bucketPostings = []byte("postings")
	bucketRecent   = []byte("recent")
	bucketEvents   = []byte("events")
	keyState       = []byte("state")
	keyMerged      = []byte("merged") // see mergeStep
)

// Options configure an Index.
type Options struct {
	// Path is the index file (default: the log's path + ".index").
	Path string
	// CommitInterval is how long durable records may wait to be indexed
	// while no lookup waits for them: the indexer gathers them into one
	// transaction (default DefaultCommitInterval).
	CommitInterval time.Duration
	// FreshnessTimeout bounds how long a lookup waits for the records
	// already durable when it starts to be indexed; past it, it answers
	// from what is indexed (default DefaultFreshnessTimeout).
	FreshnessTimeout time.Duration
	// MaxQueue bounds the bytes of reported batches waiting for the
	// indexer; past it, batches are dropped and read back from the log
	// instead (default DefaultMaxQueue).
	MaxQueue int
	// SyncInterval bounds how long indexed records stay in the index file
	// without an fsync: commits do not wait for the disk, and the file is
	// flushed this often and at Close (default DefaultSyncInterval). After a
	// crash in between, the file is rebuilt from the log.
	SyncInterval time.Duration
	// Logger receives what the index does on its own: rebuilds, and
	// failures to write the index file (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults(logPath string) Options {
	if o.Path == "" {
		o.Path = logPath + ".index"
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.FreshnessTimeout <= 0 {
		o.FreshnessTimeout = DefaultFreshnessTimeout
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = DefaultMaxQueue
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// state is where the index stands in the log, kept in the meta bucket.
type state struct {
	Version int `json:"version"`
	// Synced false marks a file an earlier version left half loaded; such
	// a file is rebuilt. Unsynced commits are marked by a file beside the
	// index instead (see markUnsynced), which a torn index cannot fake.
	Synced bool `json:"synced"`
	// The last record read from the log (indexed, or skipped as not a
	// record): its seq, chain hash, and where its line lies in the file.
	LastSeq    uint64 `json:"lastSeq"`
	LastHash   string `json:"lastHash"`
	LastOffset int64  `json:"lastOffset"`
	LastLength int    `json:"lastLength"`
	// The postings (see segments.go): the next segment's number, the
	// groups the segments hold, and the bytes of the groups of "postings".
	NextSegment  uint32 `json:"nextSegment"`
	RecentGroups int    `json:"recentGroups"`
	MainBytes    int64  `json:"mainBytes"`
	// Merging says a merge moved some of the segments' groups, not all
	// (see mergeStep): it is finished before a commit adds a segment.
	Merging bool `json:"merging,omitempty"`
}

// end is the offset just after the last record's line.
func (s *state) end() int64 {
	if s.LastSeq == 0 {
		return 0
	}
	return s.LastOffset + int64(s.LastLength) + 1
}

// batch is one durable batch reported by the log, waiting to be indexed.
type batch struct {
	first  uint64
	offset int64
	lines  []byte
}

// Index finds the records of one audit log by CloudTrail's lookup
// attributes. Lookups are safe for concurrent use; one goroutine indexes.
type Index struct {
	logPath string
	opts    Options
	db      *bbolt.DB
	// mapped keeps the file's pages mapped (boltmap), so neither the
	// indexer nor a lookup waits on the disk in a page fault.
	mapped *boltmap.Mapper
	log    *logFile

	// Between the log's writer (Durable) and the indexer.
	mu         sync.Mutex
	queue      []batch
	queued     int   // bytes in queue
	overflow   bool  // batches were dropped: read the log up to durableEnd
	durableEnd int64 // end of the newest durable batch in its file
	closed     bool
	progress   chan struct{} // closed and replaced when applied moves
	kick       chan struct{} // work is queued
	hurry      chan struct{} // a lookup waits: commit now
	stop       chan struct{}
	done       chan struct{}
	started    bool
	failed     error // the last indexing failure, nil after a success

	noticed atomic.Uint64 // newest seq reported durable
	applied atomic.Uint64 // newest seq indexed and committed
	waiters atomic.Int32  // lookups waiting for applied to reach noticed
	loading atomic.Bool   // a bulk load from the log is under way

	st       state // owned by the indexer goroutine
	unsynced bool  // commits since the last fsync: the marker file exists
	work     work  // the indexer's buffers
	merge    mergePolicy
	// hash is termHash; tests set one under which terms collide before
	// indexing anything.
	hash func(termKey []byte) uint64
}

// Open opens the index of the audit log at logPath, creating it if
// needed. A file that cannot be read, or was left half built, is deleted
// and rebuilt: the index is derived from the log, which stays the record.
// Pass Durable to audit.Options, open the log, then call Start.
func Open(logPath string, opts Options) (*Index, error) {
	opts = opts.withDefaults(logPath)
	ix := &Index{
		logPath:  logPath,
		opts:     opts,
		log:      &logFile{path: logPath},
		progress: make(chan struct{}),
		kick:     make(chan struct{}, 1),
		hurry:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		hash:     termHash,
		merge:    mergePolicy{span: mergeSpan, maxSegments: maxSegments, chunk: mergeChunk},
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("auditindex: %w", err)
	}
	var db *bbolt.DB
	var st state
	_, err := os.Stat(unsyncedPath(opts.Path))
	switch {
	case err == nil:
		err = errUnsynced
	case errors.Is(err, fs.ErrNotExist):
		db, st, err = openDB(opts.Path)
	}
	if err != nil {
		opts.Logger.Warn("audit index unusable; rebuilding it from the log", "path", opts.Path, "reason", err)
		if rerr := os.Remove(opts.Path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("auditindex: remove %s: %w", opts.Path, rerr)
		}
		if db, st, err = openDB(opts.Path); err != nil {
			return nil, fmt.Errorf("auditindex: %w", err)
		}
		// Only once the file it marks is gone.
		if rerr := os.Remove(unsyncedPath(opts.Path)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			db.Close()
			return nil, fmt.Errorf("auditindex: %w", rerr)
		}
	}
	// Commits skip the fsync; sync makes them durable (see markUnsynced).
	db.NoSync = true
	ix.db, ix.st, ix.mapped = db, st, boltmap.Opened(db)
	ix.applied.Store(st.LastSeq)
	return ix, nil
}

// errStale says an index file must be rebuilt.
var errStale = errors.New("index file is of another version or was not finished")

// errUnsynced says the index file was not flushed after its last commits.
var errUnsynced = errors.New("index file was not flushed after its last commits")

func openDB(path string) (db *bbolt.DB, st state, err error) {
	defer func() {
		// bbolt panics on some damaged pages: the file is rebuilt.
		if p := recover(); p != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("damaged index file: %v", p)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType, MmapFlags: boltmap.Flags})
	if err != nil {
		return nil, state{}, err
	}
	st = state{Version: formatVersion, Synced: true}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketPostings, bucketRecent, bucketEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyState); v != nil {
			st = state{}
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
			if st.Version != formatVersion || !st.Synced {
				return errStale
			}
			return nil
		}
		return putState(tx, &st)
	})
	if err != nil {
		db.Close()
		return nil, state{}, err
	}
	return db, st, nil
}

func putState(tx *bbolt.Tx, st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyState, b)
}

// Durable takes a batch the log made durable: it implements
// audit.Options.Durable. It copies the batch and returns at once.
func (ix *Index) Durable(firstSeq uint64, offset int64, lines []byte) {
	n := uint64(bytes.Count(lines, []byte{'\n'}))
	if n == 0 {
		return
	}
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return
	}
	if ix.overflow || ix.queued+len(lines) > ix.opts.MaxQueue {
		// The indexer fell far behind: it reads these from the log.
		ix.overflow = true
	} else {
		ix.queue = append(ix.queue, batch{first: firstSeq, offset: offset, lines: bytes.Clone(lines)})
		ix.queued += len(lines)
	}
	ix.durableEnd = offset + int64(len(lines))
	ix.mu.Unlock()
	ix.noticed.Store(firstSeq + n - 1)
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// Start brings the index up to the log's end, reading what it lacks from
// the file, and then follows the batches Durable reports. It returns at
// once; lookups meanwhile answer from what is indexed.
func (ix *Index) Start() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.started || ix.closed {
		return
	}
	ix.started = true
	go ix.run()
}

// Err returns the last failure to index, or nil while the index keeps up.
func (ix *Index) Err() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.failed
}

// Close stops indexing once the batches reported so far are indexed, and
// closes the file. Close the log first: batches it reports later are
// ignored, and read from the log at the next start.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	started := ix.started
	ix.mu.Unlock()
	close(ix.stop)
	if started {
		<-ix.done
	}
	ix.log.close()
	return ix.db.Close()
}

// publish makes the indexer's progress visible to lookups.
func (ix *Index) publish() {
	ix.applied.Store(ix.st.LastSeq)
	ix.mu.Lock()
	close(ix.progress)
	ix.progress = make(chan struct{})
	ix.mu.Unlock()
}

// fail records an indexing failure; nil records a success.
func (ix *Index) fail(err error) {
	ix.mu.Lock()
	ix.failed = err
	ix.mu.Unlock()
	if err != nil {
		ix.opts.Logger.Error("audit index update failed; lookups may miss recent records until it succeeds", "path", ix.opts.Path, "error", err)
	}
}
