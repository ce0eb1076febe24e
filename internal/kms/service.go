package kms

import (
	"context"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Sealer wraps key material under the root of trust. aad binds a sealed
// record to the key and material it belongs to.
type Sealer interface {
	Seal(plaintext secret.Bytes, aad []byte) ([]byte, error)
	Unseal(sealed, aad []byte) (secret.Bytes, error)
}

// Clock tells the time; tests move a fake one instead of sleeping.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// Authorizer decides whether a caller may perform an action. It returns nil
// to allow, or an AccessDeniedException to refuse.
type Authorizer interface {
	Authorize(ctx context.Context, r *AuthzRequest) error
}

// AuthzRequest is what an authorization decision needs to know.
type AuthzRequest struct {
	Caller *Caller
	Action string // "kms:Encrypt"
	// Key is nil for actions on no key (CreateKey, ListKeys, GenerateRandom…).
	Key *KeyView
	// EncryptionContext and GrantTokens of the request, when it has them.
	EncryptionContext map[string]string
	GrantTokens       []string
	// RequestAlias is the alias the caller named the key by, if any.
	RequestAlias string
	// Conditions holds the operation's own condition keys, lower-cased
	// (kms:grantoperations, kms:granteeprincipal, kms:keyspec of a CreateKey
	// request…), beside the ones every request has.
	Conditions map[string][]string
	// GrantAllows reports whether a grant on Key lets the caller perform
	// Action with this encryption context.
	GrantAllows bool
}

// KeyView is the read-only part of a key an authorizer may look at.
type KeyView struct {
	ARN       string
	AccountID string
	Region    string
	Policy    string
	KeySpec   string
	KeyUsage  string
	Origin    string
	Tags      map[string]string
	// KeyPolicy is Policy, parsed once when the key was loaded; nil when
	// the stored document does not parse, which allows nothing.
	KeyPolicy *policy.Policy
	// Conditions are the condition keys the key defines (kms:KeySpec,
	// aws:ResourceTag/…), computed once when the key was loaded; read only.
	Conditions policy.Context
	// bound binds the users and roles KeyPolicy names to their unique
	// ids (principals.go); nil when it names none.
	bound *boundPolicy
}

// Caller is the authenticated principal behind a request and where it came from.
type Caller struct {
	AccountID       string
	Region          string
	ARN             string // arn:aws:iam::111122223333:root
	PrincipalID     string
	AccessKeyID     string
	Type            string // CloudTrail userIdentity.type: Root, IAMUser, AssumedRole
	UserName        string
	SourceIP        string
	UserAgent       string
	SecureTransport bool
}

// RootCaller is the root principal of account in region.
func RootCaller(account, region string) Caller {
	return Caller{
		AccountID:   account,
		Region:      region,
		ARN:         "arn:aws:iam::" + account + ":root",
		PrincipalID: account,
		Type:        "Root",
	}
}

// Call is one request: who makes it, and what the operation learned that the
// audit record must show (the keys it touched).
type Call struct {
	Caller    Caller
	RequestID string
	// EventID is the eventID of the call's audit record.
	EventID string
	// Resources lists the key ARNs the operation resolved, for the audit record.
	Resources []string
	// conditions are the operation's own condition keys (aws:TagKeys of a
	// TagResource…), for the authorizer.
	conditions map[string][]string
	// used holds the keys the operation resolved, for last-usage tracking.
	used [2]*cachedKey
	// answer is the response of an operation that changes state, set
	// inside the transaction that commits the change (see Answer).
	answer Answer
}

// Answer is an operation's response as its audit record shows it.
type Answer interface {
	ResponseElements() map[string]any
}

// Answer returns the response the operation will give, once the
// transaction committing its change has decided it: the audit record the
// store's outbox keeps with that change is built at its commit, and shows
// the responseElements the caller gets even when it is shipped later,
// from the outbox. It is nil before, and for operations without one.
func (c *Call) Answer() Answer { return c.answer }

func (c *Call) touch(arn string) {
	for _, r := range c.Resources {
		if r == arn {
			return
		}
	}
	c.Resources = append(c.Resources, arn)
}

// Config wires a Service. Store, Sealer and Authorizer are required.
type Config struct {
	Store      store.Store
	Sealer     Sealer
	Authorizer Authorizer
	Clock      Clock // nil: SystemClock
	Limits     Limits
	// CacheSize bounds the keys whose record and unsealed material stay in
	// memory; 0 means 10,000.
	CacheSize int
	// Regions lists the Regions kmsd serves (requests and multi-Region
	// replicas); empty serves every Region.
	Regions []string
	// Limiter enforces request-rate quotas; nil enforces none.
	Limiter Limiter
	// ExpensiveWork bounds the RSA key generations that run at once;
	// 0 means one fewer than GOMAXPROCS, at least one.
	ExpensiveWork int
}

// Limits are the quotas AWS enforces; zero fields take AWS's defaults.
type Limits struct {
	KeysPerAccount int // 100,000
	AliasesPerKey  int // 50
	TagsPerKey     int // 50
	PolicyBytes    int // 32,768
}

func (l Limits) withDefaults() Limits {
	if l.KeysPerAccount == 0 {
		l.KeysPerAccount = 100000
	}
	if l.AliasesPerKey == 0 {
		l.AliasesPerKey = 50
	}
	if l.TagsPerKey == 0 {
		l.TagsPerKey = 50
	}
	if l.PolicyBytes == 0 {
		l.PolicyBytes = 32768
	}
	return l
}

// Service runs the KMS operations. It is safe for concurrent use.
type Service struct {
	store  store.Store
	sealer Sealer
	authz  Authorizer
	clock  Clock
	limits Limits
	cache  *keyCache
	usage  *keyuse.Tracker
	// regions is the set of Config.Regions (nil: every Region), and
	// regionList the same in the configured order, for messages.
	regions    map[string]bool
	regionList []string
	limiter    Limiter
	// pool is the semaphore of expensive work (onPool).
	pool chan struct{}
	cks  cksManager // custom key stores' backends and live connections
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Authorizer == nil {
		return nil, fmt.Errorf("kms: Store, Sealer and Authorizer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 10000
	}
	s := &Service{
		store:  cfg.Store,
		sealer: cfg.Sealer,
		authz:  cfg.Authorizer,
		clock:  cfg.Clock,
		limits: cfg.Limits.withDefaults(),
		cache:  newKeyCache(size),
		pool:   newPool(cfg.ExpensiveWork),
	}
	s.usage = s.usageTracker(keyuse.Limits{})
	s.limiter = cfg.Limiter
	if len(cfg.Regions) > 0 {
		s.regions = make(map[string]bool, len(cfg.Regions))
		for _, r := range cfg.Regions {
			s.regions[r] = true
		}
		s.regionList = append([]string(nil), cfg.Regions...)
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// AccountOwner is the authorizer used until key policies are evaluated: a
// principal may use the keys of its own account and nothing else.
type AccountOwner struct{}

// Authorize allows callers acting on their own account's keys.
func (AccountOwner) Authorize(_ context.Context, r *AuthzRequest) error {
	if r.Key == nil || r.Key.AccountID == r.Caller.AccountID {
		return nil
	}
	return AccessDenied(r.Caller, r.Action, r.Key.ARN, "because no resource-based policy allows the "+r.Action+" action")
}

// AccessDenied builds AWS's AccessDeniedException message.
func AccessDenied(c *Caller, action, resource, why string) error {
	return kmserr.New(kmserr.AccessDenied, "User: %s is not authorized to perform: %s on resource: %s %s", c.ARN, action, resource, why)
}

func (s *Service) authorize(ctx context.Context, c *Call, action string, k *cachedKey, ec map[string]string, grantTokens []string, requestAlias string) error {
	if err := checkGrantTokens(grantTokens); err != nil {
		return err
	}
	if err := s.throttle(c, action, k); err != nil {
		return err
	}
	return s.authz.Authorize(ctx, s.authzRequest(c, action, k, ec, grantTokens, requestAlias))
}

// authzRequest is what the authorizer is asked about an action on key k
// (nil for actions on no key).
func (s *Service) authzRequest(c *Call, action string, k *cachedKey, ec map[string]string, grantTokens []string, requestAlias string) *AuthzRequest {
	r := &AuthzRequest{Caller: &c.Caller, Action: action, EncryptionContext: ec, GrantTokens: grantTokens, RequestAlias: requestAlias, Conditions: c.conditions}
	if k != nil {
		r.Key = k.view()
		r.GrantAllows = k.grants.allows(&c.Caller, action, ec)
	}
	return r
}
