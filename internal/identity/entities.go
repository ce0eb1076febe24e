package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/store"
)

// Tag is a key-value pair attached to a user or role.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// InlinePolicy is a policy document embedded in one user or role, stored
// exactly as it was put.
type InlinePolicy struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// ListInput selects a page of a listing. Marker is the Marker of the
// previous page; MaxItems defaults to 100.
type ListInput struct {
	PathPrefix string
	Marker     string
	MaxItems   int
}

// Page is one page of a listing. When IsTruncated, pass Marker to get the
// next one.
type Page[T any] struct {
	Items       []T
	IsTruncated bool
	Marker      string
}

// paginate cuts the page in selects out of items, which are sorted by key.
func paginate[T any](items []T, key func(T) string, in ListInput) (Page[T], error) {
	max := in.MaxItems
	if max <= 0 {
		max = 100
	}
	start := 0
	if in.Marker != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.Marker)
		if err != nil || len(after) == 0 {
			return Page[T]{}, newError(CodeValidation, "Invalid Marker.")
		}
		start, _ = slices.BinarySearchFunc(items, string(after), func(it T, k string) int { return strings.Compare(key(it), k) })
		if start < len(items) && key(items[start]) == string(after) {
			start++
		}
	}
	p := Page[T]{Items: items[start:]}
	if len(p.Items) > max {
		p.Items = p.Items[:max]
		p.IsTruncated = true
		p.Marker = base64.RawURLEncoding.EncodeToString([]byte(key(p.Items[max-1])))
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, nil
}

// policySize counts a document's characters other than whitespace, as IAM
// does for its policy size quotas.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// entity is what users and roles share: an account, a name, a path and
// inline policies.
type entity interface {
	key() []byte
	ARN() string
	uniqueID() string // AIDA… or AROA…
	displayName() string
	inline() *[]InlinePolicy
}

// kind describes users or roles to the code both share.
type kind struct {
	bucket     []byte
	noun       string // "user" or "role"
	newRecord  func() entity
	policySize func(Limits) int
}

var (
	bucketUsers = []byte("iam-users")
	bucketRoles = []byte("iam-roles")

	userKind = kind{bucket: bucketUsers, noun: "user", newRecord: func() entity { return new(User) },
		policySize: func(l Limits) int { return l.UserPolicySize }}
	roleKind = kind{bucket: bucketRoles, noun: "role", newRecord: func() entity { return new(Role) },
		policySize: func(l Limits) int { return l.RolePolicySize }}
)

// load reads the user or role named name, case-insensitively.
func (k kind) load(tx store.Tx, account, name string) (entity, error) {
	e := k.newRecord()
	err := getJSON(tx, k.bucket, lowerKey(account, name), e)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(CodeNoSuchEntity, "The %s with name %s cannot be found.", k.noun, name)
	}
	return e, err
}

// count returns how many users or roles an account has.
func (k kind) count(tx store.Tx, account string) (int, error) {
	kvs, err := tx.Scan(k.bucket, []byte(account+"/"), nil, 0)
	return len(kvs), err
}

// findPolicy returns the index of the inline policy named name
// (case-insensitively), or -1.
func findPolicy(ps []InlinePolicy, name string) int {
	for i, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return i
		}
	}
	return -1
}

func policyNames(ps []InlinePolicy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// listByPath returns a page of an account's users or roles (the records of
// bucket) whose path starts with in.PathPrefix, in name order, ignoring
// case as IAM does.
func listByPath[T any](ctx context.Context, s *Store, bucket []byte, account string, in ListInput, path, name func(*T) string) (Page[*T], error) {
	var all []*T
	err := s.st.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(bucket, []byte(account+"/"), nil, 0)
		if err != nil {
			return err
		}
		all = all[:0]
		for _, kv := range kvs {
			e := new(T)
			if err := decodeJSON(kv, e); err != nil {
				return err
			}
			if strings.HasPrefix(path(e), in.PathPrefix) {
				all = append(all, e)
			}
		}
		return nil
	})
	if err != nil {
		return Page[*T]{}, err
	}
	return paginate(all, func(e *T) string { return strings.ToLower(name(e)) }, in)
}
