package api

import "github.com/kmsd/kmsd/internal/kms"

// admit charges a request to its operation's request quota before the
// operation runs, and refuses it with ThrottlingException ("Rate
// exceeded", HTTP 400) once the caller's account has spent that quota in
// the Region. Cryptographic operations pass here: the service charges
// them to the shared quota of the key type they use, once it has resolved
// the key. A throttled request gets its audit record like any other.
func (s *Server) admit(op string, call *kms.Call) error {
	return s.cfg.Service.AdmitOperation(call, op)
}
