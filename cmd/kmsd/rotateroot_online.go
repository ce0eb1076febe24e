package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

// rootRotator serves POST /v1/rotate-root on the admin socket: the running
// server rotates its own root keyring, so that it never has to stop, and
// the records it writes meanwhile are sealed under the new key at once.
type rootRotator struct {
	current func() *instance
	log     *slog.Logger
	mu      sync.Mutex // one rotation at a time
}

func (r *rootRotator) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.mu.TryLock() {
		http.Error(w, "kmsd: a root key rotation is already running", http.StatusConflict)
		return
	}
	defer r.mu.Unlock()
	in := r.current()
	if in == nil {
		http.Error(w, "kmsd: no store is open (the last reset failed)", http.StatusServiceUnavailable)
		return
	}
	if in.n.shared != nil {
		http.Error(w, "kmsd: rotate-root works on a bbolt data directory; a cluster's nodes each keep a root keyring, which this kmsd does not rotate yet", http.StatusNotImplemented)
		return
	}
	var opt rotateOptions
	if err := json.NewDecoder(io.LimitReader(req.Body, 4096)).Decode(&opt); err != nil || opt.Batch <= 0 {
		http.Error(w, "kmsd: the request is not a rotation's options", http.StatusBadRequest)
		return
	}
	opt.crashAfter = testCrashAfter(os.Getenv)
	opt.flush = func() { in.n.svc.FlushCache(); in.n.ids.FlushCache() }
	opt.drain = in.requests.drain
	var out bytes.Buffer
	err := rotateRoot(req.Context(), in.n.store, in.n.seal, opt, &out)
	if err != nil {
		r.log.Error("root key rotation through the admin socket failed", "error", err)
		http.Error(w, out.String()+"kmsd: "+err.Error(), http.StatusInternalServerError)
		return
	}
	r.log.Info("root key rotated through the admin socket", "active", in.n.seal.ActiveID(), "keys", in.n.seal.KeyIDs())
	_, _ = w.Write(out.Bytes())
}

// rotateRootOnline asks the server running on dataDir to rotate its root
// keyring, and prints what it did.
func rotateRootOnline(ctx context.Context, dataDir string, opt rotateOptions, stdout io.Writer) error {
	path := socketPath(dataDir)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("a running kmsd holds the store in %s, but it offers no admin socket (%s: %v): stop the server and try again", dataDir, path, errors.Unwrap(err))
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	body, _ := json.Marshal(opt)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://kmsd/v1/rotate-root", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ask the running kmsd to rotate its root keyring through %s: %w (if it stopped mid-way, run this command again to resume)", path, err)
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The running kmsd rotated through %s:\n", path)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the running kmsd's rotation failed: %s", strings.TrimSpace(string(msg)))
	}
	_, err = stdout.Write(msg)
	return err
}
