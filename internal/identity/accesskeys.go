package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

var (
	bucketAccessKeys = []byte("access-keys")
	bucketKeyOwners  = []byte("access-key-owners")
	empty            = []byte{}
)

// AccessKey is a long-term credential of an account's root or of a user.
type AccessKey struct {
	V           int       `json:"v,omitempty"`
	AccessKeyID string    `json:"accessKeyId"`
	AccountID   string    `json:"accountId"`
	UserName    string    `json:"userName,omitempty"` // empty: the account root
	UserID      string    `json:"userId,omitempty"`   // the user's unique id (AIDA…)
	Status      string    `json:"status,omitempty"`   // StatusActive or StatusInactive (empty in older records: active)
	Created     time.Time `json:"created"`
	Sealed      []byte    `json:"sealedSecret"`
}

// ARN is the principal the key belongs to.
func (k *AccessKey) ARN() string {
	if k.UserName == "" {
		return RootARN(k.AccountID)
	}
	return "arn:aws:iam::" + k.AccountID + ":user/" + k.UserName
}

// KeyStatus is the key's status as IAM reports it.
func (k *AccessKey) KeyStatus() string {
	if k.Status == "" {
		return StatusActive
	}
	return k.Status
}

func aad(akid string) []byte { return []byte("kmsd/access-key/v1|" + akid) }

// ownerKey indexes a key under its owner; the root's keys have an empty
// user name.
func ownerKey(account, userName, akid string) []byte {
	return []byte(account + "/" + strings.ToLower(userName) + "/" + akid)
}

func ownerPrefix(account, userName string) []byte {
	return []byte(account + "/" + strings.ToLower(userName) + "/")
}

// CreateAccessKey makes a new access key for the account root (userName
// "") or an existing user, and returns its secret, which is never shown
// again. It is the operator's path (kmsd admin, the first start of kmsd
// serve) and is not bound by the per-user quota; IssueAccessKey is the
// IAM API's.
func (s *Store) CreateAccessKey(ctx context.Context, account, userName string) (string, secret.Bytes, error) {
	k, sec, err := s.createAccessKey(ctx, account, userName, false)
	if err != nil {
		return "", nil, err
	}
	return k.AccessKeyID, sec, nil
}

// IssueAccessKey makes a new access key for the account root (userName "")
// or a user, within IAM's quota of keys per user (LimitExceeded).
func (s *Store) IssueAccessKey(ctx context.Context, account, userName string) (*AccessKey, secret.Bytes, error) {
	return s.createAccessKey(ctx, account, userName, true)
}

func (s *Store) createAccessKey(ctx context.Context, account, userName string, quota bool) (*AccessKey, secret.Bytes, error) {
	akid, sec := newAccessKeyID(), newSecret()
	sealed, err := s.sealer.Seal(sec, aad(akid))
	if err != nil {
		return nil, nil, fmt.Errorf("seal access key secret: %w", err)
	}
	rec := &AccessKey{V: 1, AccessKeyID: akid, AccountID: account, UserName: userName, Status: StatusActive, Created: s.now(), Sealed: sealed}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := s.ensureAccount(tx, account); err != nil {
			return err
		}
		if userName != "" {
			u, err := loadUser(tx, account, userName)
			if err != nil {
				return err
			}
			rec.UserName, rec.UserID = u.UserName, u.UserID
		}
		if quota {
			kvs, err := tx.Scan(bucketKeyOwners, ownerPrefix(account, userName), nil, 0)
			if err != nil {
				return err
			}
			if len(kvs) >= s.limits.AccessKeysPerUser {
				return newError(CodeLimitExceeded, "Cannot exceed quota for AccessKeysPerUser: %d", s.limits.AccessKeysPerUser)
			}
		}
		if _, err := tx.Get(bucketAccessKeys, []byte(akid)); err == nil {
			return fmt.Errorf("access key %s already exists", akid)
		}
		made := *rec
		made.Sealed = nil
		committing(ctx, &made)
		if err := putJSON(tx, bucketAccessKeys, []byte(akid), rec); err != nil {
			return err
		}
		return tx.Put(bucketKeyOwners, ownerKey(account, rec.UserName, akid), empty)
	})
	if err != nil {
		return nil, nil, err
	}
	s.invalidate(akid)
	out := *rec
	out.Sealed = nil
	return &out, sec, nil
}

// EnsureAccessKey stores a known access key (such as the root credentials
// `kmsd dev --enforce` is given) unless it exists with the same secret.
func (s *Store) EnsureAccessKey(ctx context.Context, account, userName, akid string, sec secret.Bytes) error {
	sealed, err := s.sealer.Seal(sec, aad(akid))
	if err != nil {
		return fmt.Errorf("seal access key secret: %w", err)
	}
	rec := &AccessKey{V: 1, AccessKeyID: akid, AccountID: account, UserName: userName, Status: StatusActive, Created: s.now(), Sealed: sealed}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := s.ensureAccount(tx, account); err != nil {
			return err
		}
		if userName != "" {
			u, err := loadUser(tx, account, userName)
			if err != nil {
				return err
			}
			rec.UserName, rec.UserID = u.UserName, u.UserID
		}
		var old AccessKey
		switch err := getJSON(tx, bucketAccessKeys, []byte(akid), &old); {
		case err == nil:
			// A restart must not re-enable a key an operator deactivated.
			rec.Created, rec.Status = old.Created, old.KeyStatus()
			if err := tx.Delete(bucketKeyOwners, ownerKey(old.AccountID, old.UserName, akid)); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := putJSON(tx, bucketAccessKeys, []byte(akid), rec); err != nil {
			return err
		}
		return tx.Put(bucketKeyOwners, ownerKey(account, rec.UserName, akid), empty)
	})
	s.invalidate(akid)
	return err
}

// Lookup returns a long-term access key and its unsealed secret. Session
// credentials are found by Credential.
func (s *Store) Lookup(ctx context.Context, akid string) (*AccessKey, secret.Bytes, error) {
	var rec AccessKey
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, bucketAccessKeys, []byte(akid), &rec) })
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
	return &rec, sec, nil
}

// DeleteAccessKey removes an access key of the account root (userName "")
// or a user; requests signed with it fail at once. A key that does not
// exist or belongs to someone else is NoSuchEntity.
func (s *Store) DeleteAccessKey(ctx context.Context, account, userName, akid string) error {
	err := s.st.Update(ctx, func(tx store.Tx) error {
		rec, err := ownedKey(tx, account, userName, akid)
		if err != nil {
			return err
		}
		if err := tx.Delete(bucketKeyOwners, ownerKey(rec.AccountID, rec.UserName, akid)); err != nil {
			return err
		}
		return tx.Delete(bucketAccessKeys, []byte(akid))
	})
	s.invalidate(akid)
	return err
}

// Access key statuses, as IAM names them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// UpdateAccessKey sets the status of an access key of the account root
// (userName "") or a user to StatusActive or StatusInactive. An inactive
// key is refused from the next request on, as if it did not exist, and
// works again once made active. A key that does not exist or belongs to
// someone else is NoSuchEntity.
func (s *Store) UpdateAccessKey(ctx context.Context, account, userName, akid, status string) error {
	if status != StatusActive && status != StatusInactive {
		return newError(CodeValidation, "Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		rec, err := ownedKey(tx, account, userName, akid)
		if err != nil {
			return err
		}
		rec.Status = status
		return putJSON(tx, bucketAccessKeys, []byte(akid), rec)
	})
	s.invalidate(akid)
	return err
}

// ownedKey loads the access key akid of the account root (userName "") or
// of a user that must exist; a key of anyone else is NoSuchEntity.
func ownedKey(tx store.Tx, account, userName, akid string) (*AccessKey, error) {
	if userName != "" {
		if _, err := loadUser(tx, account, userName); err != nil {
			return nil, err
		}
	}
	var rec AccessKey
	err := getJSON(tx, bucketAccessKeys, []byte(akid), &rec)
	if errors.Is(err, store.ErrNotFound) || err == nil && (rec.AccountID != account || !strings.EqualFold(rec.UserName, userName)) {
		return nil, newError(CodeNoSuchEntity, "The Access Key with id %s cannot be found.", akid)
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// ListAccessKeys returns the keys of the account root (userName "") or a
// user, oldest first, without their secrets.
func (s *Store) ListAccessKeys(ctx context.Context, account, userName string) ([]*AccessKey, error) {
	var out []*AccessKey
	err := s.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		if userName != "" {
			if _, err := loadUser(tx, account, userName); err != nil {
				return err
			}
		}
		kvs, err := tx.Scan(bucketKeyOwners, ownerPrefix(account, userName), nil, 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			akid := string(kv.Key[len(ownerPrefix(account, userName)):])
			var rec AccessKey
			if err := getJSON(tx, bucketAccessKeys, []byte(akid), &rec); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return err
			}
			rec.Sealed = nil
			out = append(out, &rec)
		}
		return nil
	})
	sortByCreated(out)
	return out, err
}

func sortByCreated(keys []*AccessKey) {
	slices.SortStableFunc(keys, func(a, b *AccessKey) int { return a.Created.Compare(b.Created) })
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
