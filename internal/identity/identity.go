// Package identity keeps the principals that may call kmsd and their access
// keys. Secret access keys are stored sealed under the root of trust, since
// SigV4 verification needs the secret itself, not a hash of it.
package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Sealer wraps secrets under the root of trust.
type Sealer interface {
	Seal(plaintext secret.Bytes, aad []byte) ([]byte, error)
	Unseal(sealed, aad []byte) (secret.Bytes, error)
}

// ErrUnknownAccessKey is returned for an access key id that does not exist.
var ErrUnknownAccessKey = errors.New("identity: unknown access key")

var bucketAccessKeys = []byte("access-keys")

// AccessKey is a long-term credential of an account's root or of a user.
type AccessKey struct {
	AccessKeyID string    `json:"accessKeyId"`
	AccountID   string    `json:"accountId"`
	UserName    string    `json:"userName,omitempty"` // empty: the account root
	Created     time.Time `json:"created"`
	Sealed      []byte    `json:"sealedSecret"`
}

// ARN is the principal the key belongs to.
func (k *AccessKey) ARN() string {
	if k.UserName == "" {
		return "arn:aws:iam::" + k.AccountID + ":root"
	}
	return "arn:aws:iam::" + k.AccountID + ":user/" + k.UserName
}

// Store manages access keys. It caches unsealed secrets in memory so that
// verifying a request touches no disk.
type Store struct {
	st     store.Store
	sealer Sealer
	cache  sync.Map // access key id -> *cached
	now    func() time.Time
}

type cached struct {
	key    *AccessKey
	secret secret.Bytes
}

// New returns a Store over st.
func New(st store.Store, sl Sealer) *Store {
	return &Store{st: st, sealer: sl, now: time.Now}
}

func aad(akid string) []byte { return []byte("kmsd/access-key/v1|" + akid) }

const akidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newAccessKeyID returns an id of AWS's shape: AKIA and 16 base32 characters.
func newAccessKeyID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	out := []byte("AKIA")
	for _, c := range b {
		out = append(out, akidAlphabet[int(c)%len(akidAlphabet)])
	}
	return string(out)
}

func newSecret() secret.Bytes {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return secret.Bytes(base64.StdEncoding.EncodeToString(b)) // 40 characters, like AWS's
}

// CreateAccessKey makes a new access key for the account root (userName
// "") or a user, and returns its secret, which is never shown again.
func (s *Store) CreateAccessKey(ctx context.Context, account, userName string) (string, secret.Bytes, error) {
	akid, sec := newAccessKeyID(), newSecret()
	if err := s.put(ctx, account, userName, akid, sec, false); err != nil {
		return "", nil, err
	}
	return akid, sec, nil
}

// EnsureAccessKey stores a known access key (such as the root credentials
// `kmsd dev --enforce` is given) unless it exists with the same secret.
func (s *Store) EnsureAccessKey(ctx context.Context, account, userName, akid string, sec secret.Bytes) error {
	return s.put(ctx, account, userName, akid, sec, true)
}

func (s *Store) put(ctx context.Context, account, userName, akid string, sec secret.Bytes, replace bool) error {
	sealed, err := s.sealer.Seal(sec, aad(akid))
	if err != nil {
		return fmt.Errorf("seal access key secret: %w", err)
	}
	rec := &AccessKey{AccessKeyID: akid, AccountID: account, UserName: userName, Created: s.now().UTC(), Sealed: sealed}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(bucketAccessKeys, []byte(akid)); err == nil && !replace {
			return fmt.Errorf("access key %s already exists", akid)
		}
		return tx.Put(bucketAccessKeys, []byte(akid), b)
	})
	s.cache.Delete(akid)
	return err
}

// Lookup returns an access key and its unsealed secret.
func (s *Store) Lookup(ctx context.Context, akid string) (*AccessKey, secret.Bytes, error) {
	if v, ok := s.cache.Load(akid); ok {
		c := v.(*cached)
		return c.key, c.secret, nil
	}
	var rec AccessKey
	err := s.st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketAccessKeys, []byte(akid))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rec)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load access key: %w", err)
	}
	sec, err := s.sealer.Unseal(rec.Sealed, aad(akid))
	if err != nil {
		return nil, nil, fmt.Errorf("unseal access key %s: %w", akid, err)
	}
	s.cache.Store(akid, &cached{key: &rec, secret: sec})
	return &rec, sec, nil
}

// DeleteAccessKey removes an access key; requests signed with it fail at once.
func (s *Store) DeleteAccessKey(ctx context.Context, akid string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(bucketAccessKeys, []byte(akid)); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return ErrUnknownAccessKey
			}
			return err
		}
		return tx.Delete(bucketAccessKeys, []byte(akid))
	})
	s.cache.Delete(akid)
	return err
}

// HasAny reports whether any access key exists.
func (s *Store) HasAny(ctx context.Context) (bool, error) {
	var any bool
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketAccessKeys, nil, nil, 1)
		any = len(kvs) > 0
		return err
	})
	return any, err
}
