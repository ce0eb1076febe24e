package api

import "github.com/kmsd/kmsd/internal/audit"

// announcer is an Auditor that batches records better when told one is on
// its way (*audit.Log): each KMS request announces its record when it
// starts, so a durable log commits a batch as soon as every request in
// progress has added its record and the batch is as large as the last one,
// rather than waiting a fixed delay for more (which made a few concurrent
// callers slower than one).
type announcer interface {
	Announce()
	Withdraw()
	AppendAnnounced(ev *audit.Event) error
}

// announce tells the log a record is coming, and reports whether it did.
func (s *Server) announce() bool {
	if s.ann == nil {
		return false
	}
	s.ann.Announce()
	return true
}

// appendRecord appends a request's record, settling its announcement.
func (s *Server) appendRecord(ev *audit.Event, announced *bool) error {
	if !*announced {
		return s.cfg.Audit.Append(ev)
	}
	*announced = false
	return s.ann.AppendAnnounced(ev)
}

// withdraw takes back an announcement whose record was never appended.
func (s *Server) withdraw(announced bool) {
	if announced {
		s.ann.Withdraw()
	}
}
