package iamapi

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

type getCallerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// getCallerIdentity needs no permission, as in AWS.
func getCallerIdentity(_ context.Context, _ *Handler, c *call) (any, error) {
	return getCallerIdentityResult{Arn: c.caller.ARN, UserID: c.caller.PrincipalID, Account: c.caller.AccountID}, nil
}

type xmlCredentials struct {
	AccessKeyID     string     `xml:"AccessKeyId"`
	SecretAccessKey secretText `xml:"SecretAccessKey"`
	SessionToken    secretText `xml:"SessionToken"`
	Expiration      string     `xml:"Expiration"`
}

type xmlAssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type assumeRoleResult struct {
	Credentials     xmlCredentials     `xml:"Credentials"`
	AssumedRoleUser xmlAssumedRoleUser `xml:"AssumedRoleUser"`
	SourceIdentity  string             `xml:"SourceIdentity,omitempty"`
}

func (r assumeRoleResult) wipe() {
	secret.Bytes(r.Credentials.SecretAccessKey).Wipe()
	secret.Bytes(r.Credentials.SessionToken).Wipe()
}

// unsupportedAssumeRole are AssumeRole parameters kmsd refuses rather than
// ignores: session policies and tags would change what the session may do.
var unsupportedAssumeRole = []string{"Policy", "PolicyArns.", "Tags.", "TransitiveTagKeys.", "SerialNumber", "TokenCode", "ProvidedContexts."}

func assumeRole(ctx context.Context, h *Handler, c *call) (any, error) {
	in := identity.AssumeRoleInput{
		RoleARN:         c.p.str("RoleArn", true, 20, 2048, "", nil),
		RoleSessionName: c.p.str("RoleSessionName", true, 2, 64, `[\w+=,.@-]*`, validName),
		DurationSeconds: c.p.num("DurationSeconds", identity.MinSessionDuration, identity.MaxSessionDuration),
		ExternalID:      c.p.str("ExternalId", false, 2, 1224, `[\w+=,.@:\/-]*`, validExternalID),
		SourceIdentity:  c.p.str("SourceIdentity", false, 2, 64, `[\w+=,.@-]*`, validName),
	}
	for name := range c.p.v {
		for _, u := range unsupportedAssumeRole {
			if name == u || strings.HasSuffix(u, ".") && strings.HasPrefix(name, u) {
				c.p.errs = append(c.p.errs, strings.TrimSuffix(u, ".")+" is not supported by this kmsd version")
			}
		}
	}
	if err := c.p.err(); err != nil {
		return nil, err
	}
	c.param("roleArn", in.RoleARN)
	c.param("roleSessionName", in.RoleSessionName)
	c.param("durationSeconds", in.DurationSeconds)
	c.param("externalId", in.ExternalID)
	c.param("sourceIdentity", in.SourceIdentity)
	c.resources = []audit.Resource{{AccountID: accountOf(in.RoleARN), Type: "AWS::IAM::Role", ARN: in.RoleARN}}
	if err := h.authorize(ctx, c, in.RoleARN); err != nil {
		return nil, err
	}
	out, err := h.ids.AssumeRole(ctx, h.principal(ctx, c), in)
	if err != nil {
		return nil, err
	}
	creds := out.Credentials
	c.respElems = map[string]any{
		"credentials":     map[string]any{"accessKeyId": creds.AccessKeyID, "expiration": xmlTime(creds.Expiration)},
		"assumedRoleUser": map[string]any{"assumedRoleId": out.AssumedRoleID, "arn": out.AssumedRoleARN},
	}
	if out.SourceIdentity != "" {
		c.respElems["sourceIdentity"] = out.SourceIdentity
	}
	return assumeRoleResult{
		Credentials: xmlCredentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: secretText(creds.SecretAccessKey),
			SessionToken: secretText(creds.SessionToken), Expiration: xmlTime(creds.Expiration)},
		AssumedRoleUser: xmlAssumedRoleUser{AssumedRoleID: out.AssumedRoleID, Arn: out.AssumedRoleARN},
		SourceIdentity:  out.SourceIdentity,
	}, nil
}

func validExternalID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+=,.@:/-", c) >= 0) {
			return false
		}
	}
	return true
}

// principal is the caller as the identity store sees it; a role session's
// details (its role's ARN) come from its credential.
func (h *Handler) principal(ctx context.Context, c *call) identity.Principal {
	p := identity.Principal{Type: c.caller.Type, AccountID: c.caller.AccountID, ARN: c.caller.ARN,
		PrincipalID: c.caller.PrincipalID, UserName: c.caller.UserName}
	if p.Type == identity.TypeAssumedRole && c.caller.AccessKeyID != "" {
		if cred, err := h.ids.Credential(ctx, c.caller.AccessKeyID); err == nil && cred.Principal.ARN == p.ARN {
			return cred.Principal
		}
	}
	return p
}
