package api

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// auditHealth remembers whether the last audit write failed, for /readyz,
// and counts the responses that left without a durable record (best-effort
// audit only).
type auditHealth struct {
	failing   atomic.Bool
	unaudited atomic.Uint64
	mu        sync.Mutex
	last      error
}

func (h *auditHealth) failed(err error) {
	h.mu.Lock()
	h.last = err
	h.mu.Unlock()
	h.failing.Store(true)
}

func (h *auditHealth) ok() {
	if h.failing.Load() {
		h.failing.Store(false)
	}
}

// answeredUnaudited counts a response sent without a durable record.
func (h *auditHealth) answeredUnaudited() { h.unaudited.Add(1) }

// err is nil while audit writes succeed, else the last failure.
func (h *auditHealth) err() error {
	if !h.failing.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.unaudited.Load(); n > 0 {
		return fmt.Errorf("audit log: %w (%d responses answered without a durable audit record)", h.last, n)
	}
	return fmt.Errorf("audit log: %w", h.last)
}

// UnauditedResponses counts the responses answered without a durable audit
// record since start (best-effort audit only).
func (s *Server) UnauditedResponses() uint64 { return s.audit.unaudited.Load() }
