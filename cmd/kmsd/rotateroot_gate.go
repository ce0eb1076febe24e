package main

import (
	"context"
	"net/http"
	"sync"
)

// requestGate tracks the API requests a server has in flight, so that an
// online root key rotation can wait out those that began before it. A
// request may seal a value under the root key active when it began, then
// spend a while (an XKS proxy call, up to its timeout) before committing
// it: CreateCustomKeyStore and UpdateCustomKeyStore do. Retiring that key
// meanwhile would leave the value sealed under a key no longer in the
// keyring. Requests are counted by generation; drain starts a new one and
// waits for the old to end, without holding up requests that start now.
type requestGate struct {
	mu  sync.Mutex
	cur *sync.WaitGroup // the generation new requests join; nil: none yet
}

// track wraps h so that each request is counted in the current generation
// while it runs.
func (g *requestGate) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		if g.cur == nil {
			g.cur = new(sync.WaitGroup)
		}
		wg := g.cur
		wg.Add(1)
		g.mu.Unlock()
		defer wg.Done()
		h.ServeHTTP(w, r)
	})
}

// drain returns once every request that began before it was called has
// ended, or with ctx's error when ctx ends first. A generation ends no
// sooner than the one before it, so a drain that gave up early still
// counts in the next one.
func (g *requestGate) drain(ctx context.Context) error {
	g.mu.Lock()
	old, next := g.cur, new(sync.WaitGroup)
	done := make(chan struct{})
	if old == nil {
		close(done)
	} else {
		next.Add(1)
		go func() { old.Wait(); close(done); next.Done() }()
	}
	g.cur = next
	g.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
