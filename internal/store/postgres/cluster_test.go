package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// heard collects the payloads a Listener hands over.
type heard struct {
	mu sync.Mutex
	p  []string
}

func (h *heard) add(p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.p = append(h.p, p)
}

func (h *heard) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.p...)
}

func listenTest(t *testing.T, ctx context.Context, s *Store, name string) (*Listener, *heard) {
	t.Helper()
	h := &heard{}
	l, err := s.Listen(ctx, name, h.add)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(l.Close)
	return l, h
}

func notify(ctx context.Context, s *Store, name, payload string, fail error) error {
	return s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put([]byte("b"), []byte(payload), nil); err != nil {
			return err
		}
		if err := tx.(interface{ Notify(string, string) error }).Notify(name, payload); err != nil {
			return err
		}
		return fail
	})
}

// TestNotifyOnCommitOnly sends notifications from another node's Store:
// the listener hears those of committed transactions, after their commit,
// and never one of a transaction that rolled back; Ping hands over what
// committed before it.
func TestNotifyOnCommitOnly(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a, b := openTest(t, dsn), openTest(t, dsn)
	l, h := listenTest(t, ctx, b, "inval")
	_, other := listenTest(t, ctx, b, "other")

	if err := notify(ctx, a, "inval", "one", nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := notify(ctx, a, "inval", "rolled-back", boom); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if err := notify(ctx, a, "inval", "two", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A notification reaches the connection asynchronously; wait briefly.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for len(h.list()) < 2 && wctx.Err() == nil {
		_ = l.Wait(wctx)
	}
	if got := h.list(); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("heard %q, want [one two] (never the rolled-back one)", got)
	}
	if got := other.list(); len(got) != 0 {
		t.Fatalf("a listener of another name heard %q", got)
	}
}

// TestNotifyScopedToSchema: two stores in different schemas of one
// database do not hear each other.
func TestNotifyScopedToSchema(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	a := openTest(t, freshDSN(t, server))
	b := openTest(t, freshDSN(t, server))
	l, h := listenTest(t, ctx, b, "inval")
	if err := notify(ctx, a, "inval", "elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	if err := notify(ctx, b, "inval", "here", nil); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_ = l.Wait(wctx)
	if got := h.list(); len(got) != 1 || got[0] != "here" {
		t.Fatalf("heard %q, want only [here]", got)
	}
}

// TestWaitReturnsNilWhenContextEnds: Wait is also how a caller waits a
// while for notifications; the connection stays usable afterwards.
func TestWaitReturnsNilWhenContextEnds(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	s := openTest(t, freshDSN(t, server))
	l, _ := listenTest(t, ctx, s, "inval")
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(wctx); err != nil {
		t.Fatalf("Wait until its context ends = %v, want nil", err)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("Ping after Wait: %v", err)
	}
}

// session opens a lock session on s, closed when t ends.
func session(t *testing.T, ctx context.Context, s *Store) *Session {
	t.Helper()
	sess, err := s.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

func tryLock(t *testing.T, ctx context.Context, s *Session, name string) bool {
	t.Helper()
	ok, err := s.TryLock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestTryLock: one session holds the lock; others, trying again and again
// on one connection, get it only once it is released; another schema's
// lock of the same name is independent.
func TestTryLock(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a := session(t, ctx, openTest(t, dsn))
	b := session(t, ctx, openTest(t, dsn))
	other := session(t, ctx, openTest(t, freshDSN(t, server)))

	if !tryLock(t, ctx, a, "leader") {
		t.Fatal("the first TryLock did not get the lock")
	}
	if !tryLock(t, ctx, a, "leader") {
		t.Fatal("the holder's second TryLock did not get the lock")
	}
	for range 3 {
		if tryLock(t, ctx, b, "leader") {
			t.Fatal("TryLock got a lock another session holds")
		}
	}
	if !tryLock(t, ctx, other, "leader") {
		t.Fatal("TryLock in another schema did not get its lock")
	}
	if !tryLock(t, ctx, b, "follower") {
		t.Fatal("TryLock of another name did not get the lock")
	}
	if err := a.Check(ctx); err != nil {
		t.Fatalf("Check of a live session: %v", err)
	}
	a.Close()
	// The server releases the lock once it has ended the closed session,
	// which may be a moment after Close returns.
	for deadline := time.Now().Add(10 * time.Second); !tryLock(t, ctx, b, "leader"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("TryLock after the holder closed did not get the lock within 10s")
		}
	}
}

// TestLockReleasedWhenSessionEnds: a session killed on the server (as a
// crashed node's is) releases the lock, and its holder's Check fails.
func TestLockReleasedWhenSessionEnds(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	a, b := openTest(t, dsn), openTest(t, dsn)
	sa, sb := session(t, ctx, a), session(t, ctx, b)
	if !tryLock(t, ctx, sa, "leader") {
		t.Fatal("TryLock did not get the lock")
	}
	pid := sa.conn.PID()
	if err := b.Update(ctx, func(stx store.Tx) error {
		_, err := stx.(*tx).ptx.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := sa.Check(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Check after the session ended = %v, want ErrUnavailable", err)
	}
	if _, err := sa.TryLock(ctx, "leader"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("TryLock on an ended session = %v, want ErrUnavailable", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !tryLock(t, ctx, sb, "leader") {
		if time.Now().After(deadline) {
			t.Fatal("the lock of a terminated session was not released within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
