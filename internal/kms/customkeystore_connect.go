package kms

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// connectTimeout bounds one connection attempt.
const connectTimeout = 30 * time.Second

// liveRecheck bounds how long a live connection is used without reading
// its store record again, so a Disconnect or a new attempt on another node
// of a cluster is honoured within it.
const liveRecheck = time.Second

// cksManager holds the live connections of custom key stores. The durable
// connection state is the store record; a live connection exists only for
// a CONNECTED store, opened by Connect or, after a restart, on first use.
type cksManager struct {
	mu       sync.Mutex
	backends KeyStoreBackends
	live     map[string]*cksLive // by partition | store id
	// floor is, by store, the oldest attempt whose connection may still be
	// installed: a Disconnect or a change raises it, so a connection opened
	// by a request that read the store before is refused, not kept.
	floor   map[string]uint64
	running map[string]uint64 // attempts this process is running
	wg      sync.WaitGroup
	closed  bool // CloseKeyStores ran: no new attempts
	stop    context.CancelFunc
	stopped context.Context // cancelled by CloseKeyStores; ends running attempts
}

type cksLive struct {
	attempt uint64
	rec     *keyStoreRecord // the store as it was when connected
	// checked is when the store record last confirmed this connection;
	// another node's Disconnect is seen within liveRecheck of it.
	mu      sync.Mutex
	checked time.Time
	hsm     HSMToken
	xks     XKSProxy
}

func (l *cksLive) close() {
	if l.hsm != nil {
		l.hsm.Close()
	}
	if l.xks != nil {
		l.xks.Close()
	}
}

// SetKeyStoreBackends wires what custom key stores connect to.
func (s *Service) SetKeyStoreBackends(b KeyStoreBackends) {
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	s.cks.backends = b
}

// CloseKeyStores ends running connection attempts (their stores stay
// CONNECTING and connect again after a restart) and closes every live
// connection.
func (s *Service) CloseKeyStores() {
	s.cks.mu.Lock()
	s.cks.closed = true
	if s.cks.stop != nil {
		s.cks.stop()
	}
	s.cks.mu.Unlock()
	s.cks.wg.Wait()
	s.cks.mu.Lock()
	defer s.cks.mu.Unlock()
	for k, l := range s.cks.live {
		l.close()
		delete(s.cks.live, k)
	}
}

func (m *cksManager) get() KeyStoreBackends {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.backends
}

// retire closes the live connection of a store made by an attempt older
// than attempt, and refuses to install one from now on.
func (m *cksManager) retire(key string, attempt uint64) {
	m.mu.Lock()
	if m.floor == nil {
		m.floor = map[string]uint64{}
	}
	m.floor[key] = max(m.floor[key], attempt)
	l := m.live[key]
	if l != nil && l.attempt < attempt {
		delete(m.live, key)
	} else {
		l = nil
	}
	m.mu.Unlock()
	if l != nil {
		l.close()
	}
}

// errRetired: a connection was opened for an attempt that a Disconnect or
// a change has retired since.
var errRetired = errors.New("custom key store connection retired")

// install keeps a live connection and returns the one to use: l, or the
// one of the same or a later attempt already there. A connection of a
// retired attempt is closed and refused with errRetired.
func (m *cksManager) install(key string, l *cksLive) (*cksLive, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.attempt < m.floor[key] {
		l.close()
		return nil, errRetired
	}
	if m.live == nil {
		m.live = map[string]*cksLive{}
	}
	if old := m.live[key]; old != nil {
		if old.attempt >= l.attempt {
			l.close()
			return old, nil
		}
		old.close()
	}
	m.live[key] = l
	return l, nil
}

func (m *cksManager) lookup(key string) *cksLive {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[key]
}

func (l *cksLive) fresh() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checked
}

func (l *cksLive) confirm(at time.Time) {
	l.mu.Lock()
	l.checked = at
	l.mu.Unlock()
}

// resume restarts the attempt of a store left CONNECTING by a process that
// stopped before it finished.
func (m *cksManager) resume(s *Service, r *keyStoreRecord) {
	if r.State != connConnecting {
		return
	}
	m.mu.Lock()
	_, running := m.running[string(r.key())]
	m.mu.Unlock()
	if !running {
		s.startConnect(r, "")
	}
}

// ConnectCustomKeyStore starts connecting a store and returns at once; the
// store is CONNECTING until the attempt ends CONNECTED or FAILED.
func (s *Service) ConnectCustomKeyStore(ctx context.Context, c *Call, in *kmsapi.ConnectCustomKeyStoreInput) (*kmsapi.ConnectCustomKeyStoreOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:ConnectCustomKeyStore", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	started := false
	rec, err := s.updateStore(ctx, c.Caller.AccountID, c.Caller.Region, in.CustomKeyStoreId, func(r *keyStoreRecord, _ []*keyStoreRecord) error {
		switch r.State {
		case connDisconnecting, connFailed:
			return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. To connect a FAILED custom key store, disconnect it first.", r.ID, r.State)
		case connConnected, connConnecting:
			return nil // connected or on its way: nothing to do
		}
		r.State, r.ErrorCode, r.Attempt, started = connConnecting, "", r.Attempt+1, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if started {
		s.startConnect(rec, c.RequestID)
	} else {
		s.cks.resume(s, rec) // CONNECTING since a process stopped mid-attempt
	}
	return &kmsapi.ConnectCustomKeyStoreOutput{}, nil
}

// startConnect runs one connection attempt in the background and records
// its outcome, unless a later Connect or Disconnect superseded it.
func (s *Service) startConnect(r *keyStoreRecord, requestID string) {
	key := string(r.key())
	s.cks.mu.Lock()
	if s.cks.closed {
		s.cks.mu.Unlock()
		return
	}
	if s.cks.running == nil {
		s.cks.running = map[string]uint64{}
		s.cks.stopped, s.cks.stop = context.WithCancel(context.Background())
	}
	s.cks.running[key] = r.Attempt
	base := s.cks.stopped
	s.cks.wg.Add(1)
	s.cks.mu.Unlock()
	go func() {
		defer s.cks.wg.Done()
		defer func() {
			s.cks.mu.Lock()
			if s.cks.running[key] == r.Attempt {
				delete(s.cks.running, key)
			}
			s.cks.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(base, connectTimeout)
		defer cancel()
		l, err := s.openStore(ctx, r, XKSRequestMetadata{KMSOperation: "ConnectCustomKeyStore", KMSRequestID: requestID})
		if base.Err() != nil {
			// Shutting down: the store stays CONNECTING for the next start.
			if l != nil {
				l.close()
			}
			return
		}
		state, code := connConnected, ""
		if err != nil {
			state, code = connFailed, connectionErrorCode(r.Type, failureOf(err))
			slog.Warn("custom key store connection failed", "customKeyStoreId", r.ID, "connectionErrorCode", code, "err", err)
		}
		_, uerr := s.updateStore(ctx, r.AccountID, r.Region, r.ID, func(cur *keyStoreRecord, _ []*keyStoreRecord) error {
			if cur.State != connConnecting || cur.Attempt != r.Attempt {
				return errSuperseded
			}
			cur.State, cur.ErrorCode = state, code
			return nil
		})
		if l != nil && uerr == nil {
			_, _ = s.cks.install(key, l) // a retired attempt's is closed
		} else if l != nil {
			l.close()
		}
		if uerr != nil && !errors.Is(uerr, errSuperseded) {
			slog.Warn("custom key store: record connection state", "customKeyStoreId", r.ID, "err", uerr)
		}
	}()
}

var errSuperseded = kmserr.New(errKeyStoreInvalidState, "superseded")

// openStore connects to what backs a store: logs in to its token, or dials its
// proxy and checks its health (md is the health check's requestMetadata).
func (s *Service) openStore(ctx context.Context, r *keyStoreRecord, md XKSRequestMetadata) (*cksLive, error) {
	l := &cksLive{attempt: r.Attempt, rec: r, checked: s.now()}
	if r.Type == typeCloudHSM {
		// A store of another account than the cluster's (made before
		// clusters belonged to accounts) never reaches the token.
		cl := s.cks.cluster(r.AccountID, r.ClusterID)
		if cl == nil {
			return nil, &BackendError{Failure: FailClusterNotFound, Err: errors.New("cluster " + r.ClusterID + " is not configured for account " + r.AccountID)}
		}
		pin, err := s.unsealStoreSecret(r, "password", r.SealedPassword)
		if err != nil {
			return nil, err
		}
		defer pin.Wipe()
		if l.hsm, err = cl.Login(pin); err != nil {
			return nil, err
		}
		return l, nil
	}
	p, err := s.dialProxy(r, nil)
	if err != nil {
		return nil, err
	}
	if err := p.Health(ctx, md); err != nil {
		p.Close()
		return nil, err
	}
	l.xks = p
	return l, nil
}

// dialProxy makes a client of a store's proxy, with secret when given,
// else the store's own.
func (s *Service) dialProxy(r *keyStoreRecord, secret []byte) (XKSProxy, error) {
	d := s.cks.get().XKS
	if d == nil {
		return nil, &BackendError{Failure: FailUnreachable, Err: errors.New("no XKS client configured")}
	}
	if secret == nil {
		sec, err := s.unsealStoreSecret(r, "secret", r.SealedSecret)
		if err != nil {
			return nil, err
		}
		defer sec.Wipe()
		secret = sec
	}
	return d.Dial(XKSProxyConfig{
		Endpoint: r.XksEndpoint, Path: r.XksPath, AccessKeyID: r.XksAccessKeyID, SecretAccessKey: secret,
		Region: r.Region, VpcEndpointServiceName: r.XksVpcService, VpcEndpointServiceOwner: r.XksVpcOwner,
	})
}

// DisconnectCustomKeyStore disconnects a store; its keys become Unavailable.
func (s *Service) DisconnectCustomKeyStore(ctx context.Context, c *Call, in *kmsapi.DisconnectCustomKeyStoreInput) (*kmsapi.DisconnectCustomKeyStoreOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:DisconnectCustomKeyStore", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	rec, err := s.updateStore(ctx, c.Caller.AccountID, c.Caller.Region, in.CustomKeyStoreId, func(r *keyStoreRecord, _ []*keyStoreRecord) error {
		if r.State == connDisconnected || r.State == connDisconnecting {
			return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s.", r.ID, r.State)
		}
		// A running attempt sees the new attempt number and discards its result.
		r.State, r.ErrorCode, r.Attempt = connDisconnected, "", r.Attempt+1
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Once Disconnect returns, no connection of an earlier attempt is used:
	// one a request is opening now is refused when it is installed.
	s.cks.retire(string(rec.key()), rec.Attempt)
	return &kmsapi.DisconnectCustomKeyStoreOutput{}, nil
}

// liveStore returns the live connection of a key's store, opening it on
// first use after a restart. A store that is not CONNECTED makes its keys
// Unavailable: KMSInvalidStateException.
func (s *Service) liveStore(ctx context.Context, k *cachedKey) (*keyStoreRecord, *cksLive, error) {
	// The hot path: a store this process connected, confirmed recently.
	key := partition(k.rec.AccountID, k.rec.Region) + k.rec.CustomKeyStoreID
	if l := s.cks.lookup(key); l != nil && s.now().Sub(l.fresh()) < liveRecheck {
		return l.rec, l, nil
	}
	for retried := false; ; retried = true {
		var r *keyStoreRecord
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			r, err = loadKeyStore(tx, k.rec.AccountID, k.rec.Region, k.rec.CustomKeyStoreID)
			return err
		})
		if err != nil {
			return nil, nil, kmserr.Internalf("load custom key store of %s: %w", k.rec.KeyID, err)
		}
		if r.State != connConnected {
			s.cks.retire(key, r.Attempt)
			return r, nil, errNotConnected(k.arn, r)
		}
		l, err := s.liveOf(ctx, r)
		switch {
		case errors.Is(err, errRetired) && !retried:
			continue // disconnected or changed meanwhile: read the store again
		case errors.Is(err, errRetired):
			return r, nil, errNotConnected(k.arn, r)
		case err != nil:
			return r, nil, s.useError(k, r, err)
		}
		return r, l, nil
	}
}

func errNotConnected(arn string, r *keyStoreRecord) error {
	if r.Type == typeXKS {
		return kmserr.New(kmserr.InvalidState, "This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.")
	}
	return kmserr.New(kmserr.InvalidState, "%s is unavailable: custom key store %s is %s.", arn, r.ID, r.State)
}
