package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/memory"
	"github.com/kmsd/kmsd/internal/store/sealed"
	"github.com/kmsd/kmsd/internal/uuid"
)

// memoryData is the data directory of a server that keeps nothing on disk
// (kmsd dev --ephemeral, or --data :memory:).
const memoryData = ":memory:"

// memAuditRecords is how many of the newest audit records an ephemeral
// server keeps.
const memAuditRecords = 10000

func (c Config) ephemeral() bool { return c.DataDir == memoryData }

// openMemoryStore returns an empty store and a root keyring that both live
// in this process only; the store authenticates its records under the
// keyring as a data directory's does.
func openMemoryStore(log *slog.Logger) (*sealed.Store, *seal.FileSeal, error) {
	if log == nil {
		return nil, nil, errors.New("an ephemeral server (--data " + memoryData + ") keeps its data in its own memory: there is no data directory to open while it is stopped")
	}
	sl := seal.NewMemory()
	st, err := sealed.Open(context.Background(), memory.New(), sealed.Config{Keyring: sl, KeyringPath: "(in memory)", Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return st, sl, nil
}

// memAudit keeps the newest audit records of an ephemeral server in
// memory, encoded as the log file would hold them (CloudTrail JSON), so
// that nothing reaches the disk and a test can still read what was
// recorded (GET /kmsd/audit). Older records are dropped once it is full.
type memAudit struct {
	mu      sync.Mutex
	recs    [][]byte // a ring of len cap, oldest at next once full
	next    int
	full    bool
	dropped uint64
	closed  bool
}

func newMemAudit(n int) *memAudit { return &memAudit{recs: make([][]byte, n)} }

// Append fills the event's eventID and eventTime when empty, as the log
// does, and keeps its encoding.
func (m *memAudit) Append(ev *audit.Event) error {
	if ev == nil {
		return errors.New("audit: nil event")
	}
	if ev.EventID == "" {
		ev.EventID = uuid.NewTimeOrdered(time.Now())
	}
	if ev.EventTime.IsZero() {
		ev.EventTime = time.Now().UTC().Truncate(time.Second)
	}
	body, err := ev.MarshalJSON()
	if err != nil {
		return fmt.Errorf("audit: encode event %s: %w", ev.EventID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return audit.ErrClosed
	}
	if m.full {
		m.dropped++
	}
	m.recs[m.next] = body
	m.next = (m.next + 1) % len(m.recs)
	m.full = m.full || m.next == 0
	return nil
}

// WriteTo writes the kept records, oldest first, one JSON object a line.
func (m *memAudit) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	var buf bytes.Buffer
	if m.full {
		for _, r := range m.recs[m.next:] {
			buf.Write(r)
			buf.WriteByte('\n')
		}
	}
	for _, r := range m.recs[:m.next] {
		buf.Write(r)
		buf.WriteByte('\n')
	}
	m.mu.Unlock()
	return buf.WriteTo(w)
}

// Records yields the kept records newest first, each with its number
// since the server started; CloudTrail lookups read them
// (auditindex.Records). A kept record is never modified.
func (m *memAudit) Records(yield func(seq uint64, record []byte) bool) {
	m.mu.Lock()
	kept := append([][]byte(nil), m.recs[:m.next]...)
	if m.full {
		kept = append(append([][]byte(nil), m.recs[m.next:]...), kept...)
	}
	first := m.dropped + 1
	m.mu.Unlock()
	for i := len(kept) - 1; i >= 0; i-- {
		if !yield(first+uint64(i), kept[i]) {
			return
		}
	}
}

// Health is always nil: keeping a record in memory cannot fail.
func (m *memAudit) Health() error { return nil }

// Close forgets the records.
func (m *memAudit) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	clear(m.recs)
	return nil
}

// applyEphemeral turns --ephemeral into --data :memory:, and refuses
// either where it does not apply.
func applyEphemeral(cfg *Config, m mode, flag bool) error {
	switch {
	case flag && cfg.DataDir != defaultConfig().DataDir && !cfg.ephemeral():
		return fmt.Errorf("--ephemeral keeps nothing on disk, so it takes no data directory (--data %s); give one or the other", cfg.DataDir)
	case flag:
		cfg.DataDir = memoryData
	}
	if m == modeServe && cfg.ephemeral() {
		return errors.New("kmsd serve keeps its keys, identities and audit trail on disk; --data " + memoryData + " (--ephemeral) is for kmsd dev")
	}
	return nil
}
