package identity_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const acct = "111122223333"

var bg = context.Background()

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	ids   *identity.Store
	clock *fakeClock
	db    string
}

func newEnv(t *testing.T, mutate ...func(*identity.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "kmsd.db")
	st, err := bolt.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := identity.Config{Store: st, Sealer: sl, Clock: clock}
	for _, m := range mutate {
		m(&cfg)
	}
	ids := identity.New(cfg)
	if err := ids.Init(bg, acct); err != nil {
		t.Fatal(err)
	}
	return &env{ids: ids, clock: clock, db: db}
}

func wantCode(t *testing.T, err error, code string) string {
	t.Helper()
	if got := identity.CodeOf(err); got != code {
		t.Fatalf("got error %v (code %q), want %s", err, got, code)
	}
	var e *identity.Error
	errors.As(err, &e)
	return e.Message
}

// ok returns v, failing the test if err is not nil: ok(f())(t).
func ok[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

const (
	// trustAlice names the user alice, who must exist when it is saved.
	trustAlice   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`
	trustAccount = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`
)

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "Alice", Path: "/eng/", Tags: []identity.Tag{{Key: "team", Value: "orders"}}}))(t)
	if u.ARN() != "arn:aws:iam::111122223333:user/eng/Alice" || !strings.HasPrefix(u.UserID, "AIDA") || len(u.UserID) != 21 {
		t.Fatalf("user %+v (ARN %s)", u, u.ARN())
	}
	_, err := e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"})
	if msg := wantCode(t, err, identity.CodeEntityAlreadyExists); msg != "User with name alice already exists." {
		t.Errorf("message %q", msg)
	}
	got := ok(e.ids.GetUser(bg, acct, "ALICE"))(t)
	if got.UserName != "Alice" || got.UserID != u.UserID || len(got.Tags) != 1 {
		t.Fatalf("GetUser by another case: %+v", got)
	}
	_, err = e.ids.GetUser(bg, "444455556666", "alice")
	if msg := wantCode(t, err, identity.CodeNoSuchEntity); msg != "The user with name alice cannot be found." {
		t.Errorf("message %q", msg)
	}

	// Deleting needs the keys and the policies gone first.
	k, _ := must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
	wantCode(t, e.ids.DeleteUser(bg, acct, "alice"), identity.CodeDeleteConflict)
	if err := e.ids.DeleteAccessKey(bg, acct, "alice", k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.PutUserPolicy(bg, acct, "alice", "p", `{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`); err != nil {
		t.Fatal(err)
	}
	if msg := wantCode(t, e.ids.DeleteUser(bg, acct, "alice"), identity.CodeDeleteConflict); msg != "Cannot delete entity, must delete policies first." {
		t.Errorf("message %q", msg)
	}
	if err := e.ids.DeleteUserPolicy(bg, acct, "alice", "P"); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.DeleteUser(bg, acct, "alice"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.ids.DeleteUser(bg, acct, "alice"), identity.CodeNoSuchEntity)
}

func must2(t *testing.T) func(*identity.AccessKey, secret.Bytes, error) (*identity.AccessKey, secret.Bytes) {
	return func(k *identity.AccessKey, s secret.Bytes, err error) (*identity.AccessKey, secret.Bytes) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k, s
	}
}

func TestListUsersPaginatesAndFilters(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"dave", "Bob", "carol", "alice", "eve"} {
		path := "/"
		if n == "carol" || n == "eve" {
			path = "/ops/"
		}
		ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: n, Path: path}))(t)
	}
	ok(e.ids.CreateUser(bg, "444455556666", identity.CreateUserInput{UserName: "mallory"}))(t)
	var names []string
	in := identity.ListInput{MaxItems: 2}
	for pages := 0; ; pages++ {
		p := ok(e.ids.ListUsers(bg, acct, in))(t)
		for _, u := range p.Items {
			names = append(names, u.UserName)
		}
		if !p.IsTruncated {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		in.Marker = p.Marker
	}
	if got := strings.Join(names, ","); got != "alice,Bob,carol,dave,eve" {
		t.Fatalf("listed %s", got)
	}
	p := ok(e.ids.ListUsers(bg, acct, identity.ListInput{PathPrefix: "/ops/"}))(t)
	if len(p.Items) != 2 || p.Items[0].UserName != "carol" || p.IsTruncated {
		t.Fatalf("path prefix /ops/: %+v", p)
	}
	_, err := e.ids.ListUsers(bg, acct, identity.ListInput{Marker: "!!"})
	wantCode(t, err, identity.CodeValidation)
}

func TestAccessKeysResolveToTheirPrincipal(t *testing.T) {
	e := newEnv(t)
	u := ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice", Path: "/eng/"}))(t)
	k1, s1 := must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
	must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
	_, _, err := e.ids.IssueAccessKey(bg, acct, "alice")
	if msg := wantCode(t, err, identity.CodeLimitExceeded); msg != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Errorf("message %q", msg)
	}
	_, _, err = e.ids.IssueAccessKey(bg, acct, "nobody")
	wantCode(t, err, identity.CodeNoSuchEntity)
	if !strings.HasPrefix(k1.AccessKeyID, "AKIA") || len(k1.AccessKeyID) != 20 || len(s1) != 40 || k1.Sealed != nil {
		t.Fatalf("key %+v, secret of %d bytes", k1, len(s1))
	}

	c := ok(e.ids.Credential(bg, k1.AccessKeyID))(t)
	p := c.Principal
	if !c.Secret.Equal(s1) || len(c.SessionToken) != 0 || !c.Expires.IsZero() ||
		p.Type != identity.TypeIAMUser || p.ARN != u.ARN() || p.PrincipalID != u.UserID || p.UserName != "alice" || p.AccountID != acct {
		t.Fatalf("credential %+v", c)
	}

	root := "AKIAIOSFODNN7EXAMPLE"
	if err := e.ids.EnsureAccessKey(bg, acct, "", root, secret.Bytes("root-secret")); err != nil {
		t.Fatal(err)
	}
	rc := ok(e.ids.Credential(bg, root))(t)
	if rc.Principal != identity.RootPrincipal(acct) || string(rc.Secret) != "root-secret" {
		t.Fatalf("root credential %+v", rc.Principal)
	}
	keys := ok(e.ids.ListAccessKeys(bg, acct, ""))(t)
	if len(keys) != 1 || keys[0].AccessKeyID != root {
		t.Fatalf("root keys %+v", keys)
	}
	keys = ok(e.ids.ListAccessKeys(bg, acct, "ALICE"))(t)
	if len(keys) != 2 || (keys[0].AccessKeyID != k1.AccessKeyID && keys[1].AccessKeyID != k1.AccessKeyID) || keys[0].KeyStatus() != "Active" || keys[0].UserName != "alice" {
		t.Fatalf("alice's keys %+v", keys)
	}

	// Another's key, or the root's through a user, cannot be deleted.
	wantCode(t, e.ids.DeleteAccessKey(bg, acct, "", k1.AccessKeyID), identity.CodeNoSuchEntity)
	msg := wantCode(t, e.ids.DeleteAccessKey(bg, acct, "alice", root), identity.CodeNoSuchEntity)
	if msg != "The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found." {
		t.Errorf("message %q", msg)
	}
	// A deleted key stops resolving at once, although it was cached.
	if err := e.ids.DeleteAccessKey(bg, acct, "alice", k1.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.Credential(bg, k1.AccessKeyID); !errors.Is(err, identity.ErrUnknownAccessKey) {
		t.Fatalf("deleted key: %v", err)
	}
}

// unsealGate parks every Unseal of a gatedSealer while it is set: a
// credential lookup then waits between its store read and its cache fill.
type unsealGate struct{ entered, release chan struct{} }

type gatedSealer struct {
	identity.Sealer
	mu   sync.Mutex
	gate *unsealGate
}

func (g *gatedSealer) set(gate *unsealGate) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = gate
}

func (g *gatedSealer) Unseal(sealed, aad []byte) (secret.Bytes, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		gate.entered <- struct{}{}
		<-gate.release
	}
	return g.Sealer.Unseal(sealed, aad)
}

// TestDeletedKeyNeverResurrectedByARacingLookup runs lookups beside a
// deletion: a lookup resolves to alice's key or finds nothing, and once
// DeleteAccessKey has returned, no lookup that starts may succeed. In even
// rounds every racer has resolved (and cached) the key before the deletion;
// in odd rounds the cache is cold and a racer's lookup is parked between
// reading the key and caching it until the deletion has returned, so its
// late fill must not bring the key back. Each round stops its racers only
// after each has looked the key up again since the deletion.
func TestDeletedKeyNeverResurrectedByARacingLookup(t *testing.T) {
	gs := &gatedSealer{}
	e := newEnv(t, func(c *identity.Config) { gs.Sealer, c.Sealer = c.Sealer, gs })
	ok(e.ids.CreateUser(bg, acct, identity.CreateUserInput{UserName: "alice"}))(t)
	const racers = 4
	for round := range 20 {
		k, sec := must2(t)(e.ids.IssueAccessKey(bg, acct, "alice"))
		parked := round%2 == 1
		gate := &unsealGate{entered: make(chan struct{}, racers), release: make(chan struct{})}
		if parked {
			gs.set(gate)
		}
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		var (
			deleted                 atomic.Bool
			before, spanned, after  atomic.Int64
			resolved, recheck, stop = make(chan struct{}, racers), make(chan struct{}, racers), make(chan struct{})
			wg                      sync.WaitGroup
		)
		for range racers {
			wg.Go(func() {
				defer cancel() // a racer that gives up must not leave the round waiting
				var sawKey, sawGone bool
				for {
					select {
					case <-stop:
						return
					default:
					}
					gone := deleted.Load()
					c, err := e.ids.Credential(bg, k.AccessKeyID)
					switch {
					case err == nil && gone:
						t.Errorf("round %d: a lookup started after DeleteAccessKey returned resolved the key", round)
						return
					case err == nil:
						if c.Principal.UserName != "alice" || !c.Secret.Equal(sec) {
							t.Errorf("round %d: lookup resolved to %s with another secret", round, c.Principal.ARN)
							return
						}
						before.Add(1)
						if deleted.Load() {
							spanned.Add(1)
						}
						if !sawKey {
							sawKey = true
							resolved <- struct{}{}
						}
					case !errors.Is(err, identity.ErrUnknownAccessKey):
						t.Errorf("round %d: lookup: %v", round, err)
						return
					case gone:
						after.Add(1)
						if !sawGone {
							sawGone = true
							recheck <- struct{}{}
						}
					}
				}
			})
		}
		wait := func(ch chan struct{}, n int, what string) bool {
			for range n {
				select {
				case <-ch:
				case <-ctx.Done():
					t.Errorf("round %d: gave up waiting for %s: %v", round, what, ctx.Err())
					return false
				}
			}
			return true
		}
		var ready bool
		if parked {
			ready = wait(gate.entered, 1, "a lookup to read the key")
		} else {
			ready = wait(resolved, racers, "every racer to resolve the key")
		}
		if ready {
			if err := e.ids.DeleteAccessKey(bg, acct, "alice", k.AccessKeyID); err != nil {
				t.Error(err)
			} else {
				deleted.Store(true)
				gs.set(nil)
				close(gate.release)
				wait(recheck, racers, "every racer to look the key up after the deletion")
			}
		}
		gs.set(nil)
		if !deleted.Load() {
			close(gate.release)
		}
		close(stop)
		wg.Wait()
		cancel()
		if t.Failed() {
			t.FailNow()
		}
		if before.Load() == 0 || after.Load() < racers || parked && spanned.Load() == 0 {
			t.Fatalf("round %d: %d lookups resolved before the deletion (%d of them ended after it) and %d were refused after it", round, before.Load(), spanned.Load(), after.Load())
		}
		if _, err := e.ids.Credential(bg, k.AccessKeyID); !errors.Is(err, identity.ErrUnknownAccessKey) {
			t.Fatalf("round %d: deleted key still resolves: %v", round, err)
		}
	}
}
