package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Sealer wraps secrets under the root of trust.
type Sealer interface {
	Seal(plaintext secret.Bytes, aad []byte) ([]byte, error)
	Unseal(sealed, aad []byte) (secret.Bytes, error)
}

// Clock tells the time; tests move a fake one.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Limits are IAM's quotas; zero fields take AWS's defaults.
type Limits struct {
	UsersPerAccount   int // 5,000
	RolesPerAccount   int // 1,000
	AccessKeysPerUser int // 2 (also for the account root)
	// UserPolicySize and RolePolicySize bound the total size of a user's or
	// role's inline policies, and TrustPolicySize a role's trust policy, in
	// characters other than whitespace, as IAM counts them.
	UserPolicySize  int // 2,048
	RolePolicySize  int // 10,240
	TrustPolicySize int // 2,048
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.UsersPerAccount, 5000)
	def(&l.RolesPerAccount, 1000)
	def(&l.AccessKeysPerUser, 2)
	def(&l.UserPolicySize, 2048)
	def(&l.RolePolicySize, 10240)
	def(&l.TrustPolicySize, 2048)
	return l
}

// Config wires a Store. Store and Sealer are required.
type Config struct {
	Store  store.Store
	Sealer Sealer
	Clock  Clock // nil: the wall clock
	// Policies validates policy documents before they are stored; nil
	// means BasicPolicies (JSON with statements of the right shape).
	Policies PolicyValidator
	// Trust decides whether a role's trust policy lets a caller assume it;
	// nil means DefaultTrust.
	Trust  TrustChecker
	Limits Limits
	// RootMayAssumeRoles lets an account root call AssumeRole, which AWS
	// refuses. `kmsd dev` without --enforce sets it, since there every
	// caller is the root.
	RootMayAssumeRoles bool
}

// Store manages identities. It caches resolved credentials and identity
// policies in memory so that verifying and authorizing a request touches no
// disk; every write through this Store invalidates what it changes. (Another
// kmsd node sharing the store sees a change when its cache entry is dropped:
// on restart, or at once for deletions made through it.)
type Store struct {
	st       store.Store
	sealer   Sealer
	clock    Clock
	policies PolicyValidator
	trust    TrustChecker
	limits   Limits
	rootMay  bool

	// cacheMu orders cache fills against invalidations: a fill stores its
	// entry only if no invalidation happened since it began reading.
	cacheMu  sync.Mutex
	gen      atomic.Uint64
	creds    sync.Map // access key id -> *Credential
	nCreds   atomic.Int64
	policyOf sync.Map // principal ARN -> []string
	nPolicy  atomic.Int64
	// fresh, when set, must report true for entries to be served or
	// filled (clustercache.go); set before the Store is used.
	fresh func() bool
}

// maxCached bounds each cache; when it is passed the cache is emptied.
const maxCached = 100000

// New returns a Store. It panics if Store or Sealer is missing, a wiring
// mistake no caller can recover from.
func New(cfg Config) *Store {
	if cfg.Store == nil || cfg.Sealer == nil {
		panic("identity: Store and Sealer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Policies == nil {
		cfg.Policies = BasicPolicies{}
	}
	if cfg.Trust == nil {
		cfg.Trust = DefaultTrust{}
	}
	return &Store{
		st:       cfg.Store,
		sealer:   cfg.Sealer,
		clock:    cfg.Clock,
		policies: cfg.Policies,
		trust:    cfg.Trust,
		limits:   cfg.Limits.withDefaults(),
		rootMay:  cfg.RootMayAssumeRoles,
	}
}

func (s *Store) now() time.Time { return s.clock.Now().UTC() }

// invalidate runs after a committed write: it drops the named credentials
// and every cached identity policy, and makes fills that started before it
// discard what they read.
func (s *Store) invalidate(akids ...string) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.gen.Add(1)
	for _, id := range akids {
		if _, loaded := s.creds.LoadAndDelete(id); loaded {
			s.nCreds.Add(-1)
		}
	}
	s.policyOf.Clear()
	s.nPolicy.Store(0)
}

// fill stores v under k in m if no invalidation happened since gen was read.
func (s *Store) fill(m *sync.Map, n *atomic.Int64, gen uint64, k string, v any) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.gen.Load() != gen || !s.cacheFresh() {
		return
	}
	if n.Load() >= maxCached {
		m.Clear()
		n.Store(0)
	}
	if _, loaded := m.Swap(k, v); !loaded {
		n.Add(1)
	}
}

// Account is an AWS account kmsd serves.
type Account struct {
	V         int       `json:"v"`
	AccountID string    `json:"accountId"`
	Created   time.Time `json:"created"`
}

var bucketAccounts = []byte("accounts")

// EnsureAccount records an account unless it exists.
func (s *Store) EnsureAccount(ctx context.Context, account string) error {
	if !ValidAccountID(account) {
		return newError(CodeValidation, "Account id %q is not 12 digits.", account)
	}
	return s.st.Update(ctx, func(tx store.Tx) error { return s.ensureAccount(tx, account) })
}

func (s *Store) ensureAccount(tx store.Tx, account string) error {
	if _, err := tx.Get(bucketAccounts, []byte(account)); err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return putJSON(tx, bucketAccounts, []byte(account), &Account{V: 1, AccountID: account, Created: s.now()})
}

// Init prepares the store at start: it records the default account and
// indexes access keys written before keys had an owner index, so that
// ListAccessKeys shows them. It is idempotent.
func (s *Store) Init(ctx context.Context, defaultAccount string) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		if err := s.ensureAccount(tx, defaultAccount); err != nil {
			return err
		}
		kvs, err := tx.Scan(bucketAccessKeys, nil, nil, 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var k AccessKey
			if err := json.Unmarshal(kv.Value, &k); err != nil {
				return fmt.Errorf("access key %s: %w", kv.Key, err)
			}
			if err := s.ensureAccount(tx, k.AccountID); err != nil {
				return err
			}
			if err := tx.Put(bucketKeyOwners, ownerKey(k.AccountID, k.UserName, k.AccessKeyID), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func putJSON(tx store.Tx, bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

// getJSON reads a record; it returns store.ErrNotFound for a missing one.
func getJSON(tx store.Tx, bucket, key []byte, v any) error {
	b, err := tx.Get(bucket, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return nil
}

func decodeJSON(kv store.KV, v any) error {
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return nil
}

// Account returns an account's record; an account never recorded (one
// whose root has no stored key yet) is reported as created now.
func (s *Store) Account(ctx context.Context, account string) (*Account, error) {
	a := &Account{V: 1, AccountID: account, Created: s.now()}
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, bucketAccounts, []byte(account), a) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return a, nil
}
