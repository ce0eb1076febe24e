package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

var (
	bucketSessions      = []byte("sessions")
	bucketRoleSessions  = []byte("role-sessions")
	bucketSessionExpiry = []byte("session-expiry")
)

// ExpiredSessionRetention is how long an expired session is kept, so that
// a client using it is told its token expired rather than that it is
// unknown. PruneSessions deletes it after that.
const ExpiredSessionRetention = 24 * time.Hour

// Session is a role session: temporary credentials AssumeRole issued.
type Session struct {
	V              int       `json:"v"`
	AccessKeyID    string    `json:"accessKeyId"`
	AccountID      string    `json:"accountId"`
	RoleName       string    `json:"roleName"`
	RoleID         string    `json:"roleId"`
	RolePath       string    `json:"rolePath"`
	SessionName    string    `json:"sessionName"`
	SourceIdentity string    `json:"sourceIdentity,omitempty"`
	IssuerARN      string    `json:"issuerArn"` // who called AssumeRole
	Issued         time.Time `json:"issued"`
	Expires        time.Time `json:"expires"`
	// Sealed holds the secret access key and the session token.
	Sealed []byte `json:"sealed"`
}

// ARN is the session's principal ARN.
func (s *Session) ARN() string { return assumedRoleARN(s.AccountID, s.RoleName, s.SessionName) }

func sessionAAD(akid string) []byte { return []byte("kmsd/session/v1|" + akid) }

func roleSessionKey(account, role, akid string) []byte {
	return []byte(account + "/" + strings.ToLower(role) + "/" + akid)
}

func expiryKey(t time.Time, akid string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(t.Unix()))
	return append(k, akid...)
}

// AssumeRoleInput is an AssumeRole request.
type AssumeRoleInput struct {
	RoleARN         string
	RoleSessionName string
	DurationSeconds int // 0 means 3600
	ExternalID      string
	SourceIdentity  string
}

// SessionCredentials are the temporary credentials of a session. The
// secret and the token are shown to the caller once and never logged.
type SessionCredentials struct {
	AccessKeyID     string
	SecretAccessKey secret.Bytes
	SessionToken    secret.Bytes
	Expiration      time.Time
}

// AssumeRoleOutput is what AssumeRole returns.
type AssumeRoleOutput struct {
	Credentials    SessionCredentials
	AssumedRoleID  string // ROLEID:SESSION
	AssumedRoleARN string // arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
	SourceIdentity string
	RoleARN        string
}

// AssumeRole issues session credentials for a role to caller. The role must
// exist and its trust policy must trust the caller (the TrustChecker
// decides); otherwise the answer is AccessDenied, the same for both, as in
// AWS. An account root may not assume roles unless the Store is configured
// to allow it. The duration must not exceed the role's MaxSessionDuration,
// nor one hour when the caller is itself a role session (role chaining).
func (s *Store) AssumeRole(ctx context.Context, caller Principal, in AssumeRoleInput) (*AssumeRoleOutput, error) {
	if in.DurationSeconds == 0 {
		in.DurationSeconds = DefaultSessionDuration
	}
	if in.DurationSeconds < MinSessionDuration || in.DurationSeconds > MaxSessionDuration {
		return nil, newError(CodeValidation, "DurationSeconds must be between %d and %d.", MinSessionDuration, MaxSessionDuration)
	}
	if !validSessionName(in.RoleSessionName) {
		return nil, newError(CodeValidation, "RoleSessionName must be 2 to 64 characters of [\\w+=,.@-].")
	}
	target, ok := ParseARN(in.RoleARN)
	if !ok || target.Kind != "role" {
		return nil, newError(CodeValidation, "%s is invalid", in.RoleARN)
	}
	denied := accessDenied(caller.ARN, "sts:AssumeRole", in.RoleARN)
	if caller.Type == TypeRoot && !s.rootMay {
		return nil, newError(CodeAccessDenied, "Roles may not be assumed by root accounts.")
	}
	role, err := s.role(ctx, target.Account, target.Name)
	if CodeOf(err) == CodeNoSuchEntity {
		return nil, denied
	}
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(role.ARN(), in.RoleARN) {
		return nil, denied
	}
	trusted, err := s.trust.Trusts(ctx, &TrustRequest{Role: role, Caller: caller, ExternalID: in.ExternalID,
		SourceIdentity: in.SourceIdentity, SessionName: in.RoleSessionName, Unbound: role.unboundFor(caller)})
	if err != nil {
		return nil, fmt.Errorf("evaluate the trust policy of %s: %w", role.ARN(), err)
	}
	if !trusted {
		return nil, denied
	}
	if caller.Type == TypeAssumedRole && in.DurationSeconds > ChainedSessionDuration {
		return nil, newError(CodeValidation, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if in.DurationSeconds > role.MaxSessionDuration {
		return nil, newError(CodeValidation, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	akid := newID(prefixSessionKey, 16)
	sec, token := newSecret(), newSessionToken()
	plain := make(secret.Bytes, 0, len(sec)+1+len(token))
	plain = append(append(append(plain, sec...), '\n'), token...)
	sealed, err := s.sealer.Seal(plain, sessionAAD(akid))
	plain.Wipe()
	if err != nil {
		return nil, fmt.Errorf("seal session secret: %w", err)
	}
	issued := s.now().Truncate(time.Second)
	sess := &Session{V: 1, AccessKeyID: akid, AccountID: role.AccountID, RoleName: role.RoleName, RoleID: role.RoleID,
		RolePath: role.Path, SessionName: in.RoleSessionName, SourceIdentity: in.SourceIdentity, IssuerARN: caller.ARN,
		Issued: issued, Expires: issued.Add(time.Duration(in.DurationSeconds) * time.Second), Sealed: sealed}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		// The role must still be the one whose trust policy was checked.
		r, err := loadRole(tx, role.AccountID, role.RoleName)
		if err != nil || r.RoleID != role.RoleID {
			return denied
		}
		if err := putJSON(tx, bucketSessions, []byte(akid), sess); err != nil {
			return err
		}
		if err := tx.Put(bucketRoleSessions, roleSessionKey(sess.AccountID, sess.RoleName, akid), empty); err != nil {
			return err
		}
		return tx.Put(bucketSessionExpiry, expiryKey(sess.Expires, akid), empty)
	})
	if err != nil {
		return nil, err
	}
	return &AssumeRoleOutput{
		Credentials:    SessionCredentials{AccessKeyID: akid, SecretAccessKey: sec, SessionToken: token, Expiration: sess.Expires},
		AssumedRoleID:  role.RoleID + ":" + in.RoleSessionName,
		AssumedRoleARN: sess.ARN(),
		SourceIdentity: in.SourceIdentity,
		RoleARN:        role.ARN(),
	}, nil
}

// newSessionToken returns an opaque token of 128 base64 characters.
func newSessionToken() secret.Bytes {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return secret.Bytes(base64.StdEncoding.EncodeToString(b))
}

func (s *Store) loadSessionCredential(ctx context.Context, akid string) (*Credential, error) {
	var sess Session
	err := s.st.View(ctx, func(tx store.Tx) error { return getJSON(tx, bucketSessions, []byte(akid), &sess) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownAccessKey
	}
	if err != nil {
		return nil, fmt.Errorf("load session %s: %w", akid, err)
	}
	plain, err := s.sealer.Unseal(sess.Sealed, sessionAAD(akid))
	if err != nil {
		return nil, fmt.Errorf("unseal session %s: %w", akid, err)
	}
	i := bytes.IndexByte(plain, '\n')
	if i < 0 {
		return nil, fmt.Errorf("session %s: malformed sealed record", akid)
	}
	return &Credential{
		AccessKeyID:  akid,
		Secret:       plain[:i:i],
		SessionToken: plain[i+1:],
		Expires:      sess.Expires,
		Principal: Principal{
			Type: TypeAssumedRole, AccountID: sess.AccountID, ARN: sess.ARN(),
			PrincipalID: sess.RoleID + ":" + sess.SessionName,
			RoleName:    sess.RoleName, RoleID: sess.RoleID, RoleARN: roleARN(sess.AccountID, sess.RolePath, sess.RoleName),
			SessionName: sess.SessionName, SessionIssued: sess.Issued,
		},
	}, nil
}

// deleteSession removes a session and its index entries.
func deleteSession(tx store.Tx, akid string) error {
	var sess Session
	if err := getJSON(tx, bucketSessions, []byte(akid), &sess); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := tx.Delete(bucketRoleSessions, roleSessionKey(sess.AccountID, sess.RoleName, akid)); err != nil {
		return err
	}
	if err := tx.Delete(bucketSessionExpiry, expiryKey(sess.Expires, akid)); err != nil {
		return err
	}
	return tx.Delete(bucketSessions, []byte(akid))
}

// deleteRoleSessions removes every session of a role and returns their ids.
func deleteRoleSessions(tx store.Tx, account, role string) ([]string, error) {
	prefix := roleSessionKey(account, role, "")
	kvs, err := tx.Scan(bucketRoleSessions, prefix, nil, 0)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		akid := string(kv.Key[len(prefix):])
		if err := deleteSession(tx, akid); err != nil {
			return nil, err
		}
		if err := tx.Delete(bucketRoleSessions, kv.Key); err != nil {
			return nil, err
		}
		ids = append(ids, akid)
	}
	return ids, nil
}

// PruneSessions deletes sessions that expired more than
// ExpiredSessionRetention ago and reports how many. It is a jobs task.
func (s *Store) PruneSessions(ctx context.Context) (int, error) {
	cutoff := expiryKey(s.now().Add(-ExpiredSessionRetention), "")
	total := 0
	for {
		var ids []string
		err := s.st.Update(ctx, func(tx store.Tx) error {
			ids = ids[:0]
			kvs, err := tx.Scan(bucketSessionExpiry, nil, nil, 500)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if bytes.Compare(kv.Key[:8], cutoff) >= 0 {
					break
				}
				akid := string(kv.Key[8:])
				if err := deleteSession(tx, akid); err != nil {
					return err
				}
				if err := tx.Delete(bucketSessionExpiry, kv.Key); err != nil {
					return err
				}
				ids = append(ids, akid)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		s.invalidate(ids...)
		total += len(ids)
	}
}
