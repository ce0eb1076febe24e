package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/metrics"
)

// resetter is the handler of a dev server. It serves each request on the
// current instance and, on a reset request, replaces the instance with a
// fresh one: every account, key, identity and audit record is gone, the
// root credentials and the seed are there again, and no restart is needed.
// Requests in flight finish on the old instance first; those that arrive
// during a reset wait for the new one.
type resetter struct {
	ctx    context.Context
	cfg    Config
	log    *slog.Logger
	stdout io.Writer
	mx     *metrics.Metrics // nil without an admin listener

	mu  sync.RWMutex // held shared by each request, exclusively by a reset
	in  *instance    // nil after a reset that failed
	err error        // why the last reset failed
}

func newResetter(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer, in *instance, mx *metrics.Metrics) *resetter {
	return &resetter{ctx: ctx, cfg: cfg, log: log, stdout: stdout, in: in, mx: mx}
}

// current returns the instance serving requests, or nil after a reset
// that failed.
func (r *resetter) current() *instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.in
}

// resetRoute is one of the paths that reset a server: kmsd's own, and the
// ones moto's server mode and LocalStack answer, so that test suites
// written for those run against kmsd unchanged.
type resetRoute int

const (
	notReset resetRoute = iota
	kmsdReset
	motoReset
	localstackReset
	localstackOtherService // a service kmsd has no state of: nothing to do
)

func routeOf(path string) resetRoute {
	switch path {
	case "/kmsd/reset":
		return kmsdReset
	case "/moto-api/reset":
		return motoReset
	case "/_localstack/state/reset":
		return localstackReset
	}
	if svc, ok := strings.CutPrefix(path, "/_localstack/state/"); ok {
		if svc, ok = strings.CutSuffix(svc, "/reset"); ok && svc != "" && !strings.Contains(svc, "/") {
			switch svc {
			case "kms", "iam", "sts":
				// Keys, identities and the audit trail are one state.
				return localstackReset
			}
			return localstackOtherService
		}
	}
	return notReset
}

func (r *resetter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if route := routeOf(req.URL.Path); route != notReset {
		r.serveReset(w, req, route)
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.in == nil {
		http.Error(w, "kmsd: the last reset failed, so there is no state to serve: "+r.err.Error()+"; POST /kmsd/reset to try again", http.StatusServiceUnavailable)
		return
	}
	if req.URL.Path == "/kmsd/audit" {
		r.serveAudit(w, req)
		return
	}
	r.in.handler.ServeHTTP(w, req)
}

func (r *resetter) serveReset(w http.ResponseWriter, req *http.Request, route resetRoute) {
	if req.Method != http.MethodPost {
		if route == motoReset {
			writeJSON(w, http.StatusBadRequest, map[string]string{"Error": "Need to POST to reset Moto"})
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "kmsd: POST to reset the server", http.StatusMethodNotAllowed)
		return
	}
	if err := r.allowed(req, r.current()); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"status": "refused", "message": err.Error()})
		return
	}
	if route == localstackOtherService {
		w.WriteHeader(http.StatusOK)
		return
	}
	start := time.Now()
	if err := r.reset(); err != nil {
		r.log.Error("reset failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"status": "failed", "message": err.Error()})
		return
	}
	r.log.Info("reset to a fresh state", "took", time.Since(start).Round(time.Millisecond))
	switch route {
	case localstackReset:
		w.WriteHeader(http.StatusOK)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// allowed decides who may reset the server, or read its audit records:
// anyone when signatures are not enforced (every caller acts as the
// account root anyway); with --enforce, a caller on this machine, or a
// request signed (SigV4, service kms) with the credentials of the default
// account's root, as in verifies them. Never a web page of another origin:
// a browser on this machine is a caller on this machine, and a plain POST
// needs no CORS preflight, so any site could otherwise wipe every key.
func (r *resetter) allowed(req *http.Request, in *instance) error {
	if err := api.RefuseForeignPage(req); err != nil {
		return err
	}
	if !r.cfg.Enforce || loopbackPeer(req.RemoteAddr) {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return err
	}
	if in != nil {
		c, err := in.auth.Authenticate(req.Context(), req, body)
		if err == nil && c.ARN == identity.RootARN(r.cfg.AccountID) {
			return nil
		}
	}
	return fmt.Errorf("with --enforce, a request from another machine must be signed (SigV4, service kms) with the credentials of arn:aws:iam::%s:root", r.cfg.AccountID)
}

// loopbackPeer reports whether a request came from this machine.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reset replaces the instance with a fresh one, once the requests in
// flight have finished.
func (r *resetter) reset() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.in != nil {
		r.in.stop(r.log)
		r.in = nil
	}
	if !r.cfg.ephemeral() {
		if err := wipeData(r.cfg.DataDir); err != nil {
			r.err = err
			return err
		}
	}
	fmt.Fprintln(r.stdout, "kmsd: reset to a fresh state")
	in, err := startInstance(r.ctx, r.cfg, r.log, r.stdout, r.mx)
	if err != nil {
		r.err = err
		return err
	}
	fmt.Fprint(r.stdout, in.bootstrap)
	r.in, r.err = in, nil
	return nil
}

// wipeData deletes what kmsd keeps in a data directory: the store, the
// root keyring and the audit directory. Nothing else in it is touched.
func wipeData(dir string) error {
	db, key, auditLog := dataPaths(dir)
	var errs []error
	for _, p := range []string{db, key} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Dir(auditLog)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reset: delete the data of %s: %w", dir, err)
	}
	return nil
}

// serveAudit answers GET /kmsd/audit on an ephemeral server with the
// audit records it keeps in memory, one CloudTrail JSON object a line,
// oldest first.
func (r *resetter) serveAudit(w http.ResponseWriter, req *http.Request) {
	m, ok := r.in.n.audit.(*memAudit)
	if !ok {
		_, _, auditLog := dataPaths(r.cfg.DataDir)
		http.Error(w, "kmsd: the audit log is the file "+auditLog+"; /kmsd/audit serves the records of an ephemeral server (--ephemeral)", http.StatusNotFound)
		return
	}
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "kmsd: GET the audit records", http.StatusMethodNotAllowed)
		return
	}
	if err := r.allowed(req, r.in); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"status": "refused", "message": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	_, _ = m.WriteTo(w)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
