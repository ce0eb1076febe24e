package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// TestOnlineRotationWaitsForRequestsInFlight: a request seals a secret
// under the root key active when it began and commits it only later (as
// CreateCustomKeyStore does around its XKS proxy call). A rotation with
// --retire that runs meanwhile waits for it, so the record it commits is
// re-sealed and the old root key retired, and the secret still unseals.
func TestOnlineRotationWaitsForRequestsInFlight(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, sl, err := openStore(filepath.Join(dir, "kmsd.db"), filepath.Join(dir, "root.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var gate requestGate
	sealed, release, committed := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	const id = "AKIAINFLIGHTEXAMPLE"
	aad := []byte("kmsd/access-key/v1|" + id)
	slow := gate.track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blob, err := sl.Seal(secret.Bytes("the secret"), aad)
		if err != nil {
			committed <- err
			return
		}
		close(sealed)
		<-release // the proxy call
		rec, _ := json.Marshal(map[string]string{"accessKeyId": id, "sealedSecret": base64.StdEncoding.EncodeToString(blob)})
		committed <- st.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("access-keys"), []byte(id), rec) })
	}))
	srv := httptest.NewServer(slow)
	defer srv.Close()
	go func() {
		if resp, err := http.Get(srv.URL); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-sealed

	rotated := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		rotated <- rotateRoot(ctx, st, sl, rotateOptions{Batch: 16, Retire: true, drain: gate.drain}, &out)
	}()
	// The request ends only once the rotation has made the new key active
	// and either finished or had a while to: a rotation that does not wait
	// retires the old key before the request commits.
	for sl.ActiveID() != 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-rotated:
		rotated <- err
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-committed; err != nil {
		t.Fatalf("the request's commit: %v", err)
	}
	if err := <-rotated; err != nil {
		t.Fatalf("rotate-root --retire: %v\n%s", err, &out)
	}
	if !strings.Contains(out.String(), "Retired root key 1") {
		t.Fatalf("root key 1 was not retired:\n%s", &out)
	}
	var rec struct {
		Sealed []byte `json:"sealedSecret"`
	}
	err = st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get([]byte("access-keys"), []byte(id))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := sl.Unseal(rec.Sealed, aad); err != nil || string(pt) != "the secret" {
		t.Fatalf("the secret committed by the request in flight does not unseal after the rotation: %v", err)
	}
}

// TestRequestGateDrain: drain waits for the requests that began before
// it, not for those that begin after, and an abandoned drain still counts
// in the next.
func TestRequestGateDrain(t *testing.T) {
	var g requestGate
	if err := g.drain(context.Background()); err != nil {
		t.Fatalf("drain with no request: %v", err)
	}
	started, end := make(chan struct{}, 2), make(chan struct{})
	h := g.track(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { started <- struct{}{}; <-end }))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-started
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.drain(short); err == nil {
		t.Fatal("drain returned with a request in flight")
	}
	g.mu.Lock()
	first := g.cur // the generation the abandoned drain started
	g.mu.Unlock()
	drained := make(chan error, 1)
	go func() { drained <- g.drain(context.Background()) }()
	// A request that begins now is not waited for.
	later, endLater := make(chan struct{}), make(chan struct{})
	defer close(endLater)
	go func() {
		for {
			g.mu.Lock()
			ready := g.cur != nil && g.cur != first
			g.mu.Unlock()
			if ready {
				break
			}
			time.Sleep(time.Millisecond)
		}
		g.track(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { close(later); <-endLater })).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	<-later
	select {
	case <-drained:
		t.Fatal("drain returned while a request from before the abandoned drain runs")
	case <-time.After(50 * time.Millisecond):
	}
	close(end)
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain waits for a request that began after it")
	}
}
