package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Principal types, as CloudTrail's userIdentity.type names them.
const (
	TypeRoot        = "Root"
	TypeIAMUser     = "IAMUser"
	TypeAssumedRole = "AssumedRole"
)

// Principal is who an access key stands for.
type Principal struct {
	Type      string // TypeRoot, TypeIAMUser or TypeAssumedRole
	AccountID string
	// ARN is arn:aws:iam::ACCT:root, the user's ARN, or the session's
	// arn:aws:sts::ACCT:assumed-role/ROLE/SESSION.
	ARN string
	// PrincipalID is the account id for the root, the user's unique id
	// (AIDA…), or ROLEID:SESSION for a role session (AROA…:name).
	PrincipalID string
	UserName    string // IAM users only
	// Role sessions only.
	RoleName      string
	RoleID        string
	RoleARN       string
	SessionName   string
	SessionIssued time.Time
}

// RootPrincipal is the root user of account.
func RootPrincipal(account string) Principal {
	return Principal{Type: TypeRoot, AccountID: account, ARN: RootARN(account), PrincipalID: account}
}

// Credential is what an access key id resolves to. The Store shares
// Credentials between callers: treat them as read-only.
type Credential struct {
	AccessKeyID string
	Secret      secret.Bytes
	// SessionToken and Expires are set for session credentials only: the
	// request must carry exactly this X-Amz-Security-Token, and the
	// credentials stop working at Expires.
	SessionToken secret.Bytes
	Expires      time.Time
	Principal    Principal
}

// Credential resolves an access key id — a long-term key of a root or
// user, or a session's ASIA… id — to its secret and principal. It returns
// ErrUnknownAccessKey for an id that does not exist or an inactive key. Results are cached,
// so verifying a request normally touches no disk; deleting a key, a
// session or its role drops the entry.
func (s *Store) Credential(ctx context.Context, akid string) (*Credential, error) {
	if v, ok := s.creds.Load(akid); ok && s.cacheFresh() {
		return v.(*Credential), nil
	}
	gen := s.gen.Load()
	var (
		c   *Credential
		err error
	)
	if strings.HasPrefix(akid, prefixSessionKey) {
		c, err = s.loadSessionCredential(ctx, akid)
	}
	if c == nil && (err == nil || errors.Is(err, ErrUnknownAccessKey)) {
		c, err = s.loadKeyCredential(ctx, akid)
	}
	if err != nil {
		return nil, err
	}
	s.fill(&s.creds, &s.nCreds, gen, akid, c)
	return c, nil
}

func (s *Store) loadKeyCredential(ctx context.Context, akid string) (*Credential, error) {
	var (
		rec  AccessKey
		user *User
	)
	err := s.st.View(ctx, func(tx store.Tx) error {
		if err := getJSON(tx, bucketAccessKeys, []byte(akid), &rec); err != nil {
			return err
		}
		if rec.KeyStatus() != StatusActive {
			// An inactive key signs nothing, and AWS says no more about it
			// than about a key that does not exist.
			return store.ErrNotFound
		}
		if rec.UserName == "" {
			return nil
		}
		u, err := loadUser(tx, rec.AccountID, rec.UserName)
		if CodeOf(err) == CodeNoSuchEntity {
			return nil // a key made for a user before users were recorded
		}
		user = u
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, fmt.Errorf("load access key %s: %w", akid, err)
	}
	sec, err := s.sealer.Unseal(rec.Sealed, aad(akid))
	if err != nil {
		return nil, fmt.Errorf("unseal access key %s: %w", akid, err)
	}
	c := &Credential{AccessKeyID: akid, Secret: sec, Principal: RootPrincipal(rec.AccountID)}
	switch {
	case user != nil:
		c.Principal = Principal{Type: TypeIAMUser, AccountID: rec.AccountID, ARN: user.ARN(), PrincipalID: user.UserID, UserName: user.UserName}
	case rec.UserName != "":
		c.Principal = Principal{Type: TypeIAMUser, AccountID: rec.AccountID, ARN: rec.ARN(), PrincipalID: akid, UserName: rec.UserName}
	}
	return c, nil
}
