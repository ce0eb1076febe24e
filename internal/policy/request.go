package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// PrincipalType says what kind of identity makes a request. The zero value
// is Anonymous, so a Request that forgets to set it matches only "*".
type PrincipalType uint8

const (
	Anonymous     PrincipalType = iota
	Root                        // an account's root user: arn:aws:iam::ACCT:root
	User                        // an IAM user: arn:aws:iam::ACCT:user/PATH/NAME
	AssumedRole                 // a role session: arn:aws:sts::ACCT:assumed-role/ROLE/SESSION
	FederatedUser               // arn:aws:sts::ACCT:federated-user/NAME
	Service                     // an AWS service principal: ec2.amazonaws.com
	WebIdentity                 // a user of an identity provider (trust policies): accounts.google.com, a SAML provider ARN
)

// String returns the value of aws:PrincipalType for the type ("Account" for
// the root user, as AWS names it).
func (t PrincipalType) String() string {
	switch t {
	case Root:
		return "Account"
	case User:
		return "User"
	case AssumedRole:
		return "AssumedRole"
	case FederatedUser:
		return "FederatedUser"
	case Service:
		return "Service"
	case WebIdentity:
		return "WebIdentity"
	}
	return "Anonymous"
}

// ParsePrincipal reads a caller's type and account from its ARN: an
// account root, an IAM user, an assumed-role session or a federated user;
// a dotted name without "arn:" is a service principal. ok is false for
// anything else (a role ARN cannot make requests: its sessions do).
func ParsePrincipal(principal string) (t PrincipalType, account string, ok bool) {
	if !strings.HasPrefix(principal, "arn:") {
		if isDNSName(principal) {
			return Service, "", true
		}
		return Anonymous, "", false
	}
	if strings.Count(principal, ":") != 5 || !isPartition(arnField(principal, 1)) || arnField(principal, 3) != "" {
		return Anonymous, "", false
	}
	account = arnField(principal, 4)
	if !isAccountID(account) {
		return Anonymous, "", false
	}
	res := arnField(principal, 5)
	switch arnField(principal, 2) {
	case "iam":
		switch {
		case res == "root":
			return Root, account, true
		case strings.HasPrefix(res, "user/") && pathName(res[len("user/"):]) != "":
			return User, account, true
		}
	case "sts":
		if _, _, ok := sessionRole(principal); ok && strings.Count(res, "/") == 2 {
			return AssumedRole, account, true
		}
		if name, ok := strings.CutPrefix(res, "federated-user/"); ok && name != "" && !strings.Contains(name, "/") {
			return FederatedUser, account, true
		}
	}
	return Anonymous, "", false
}

// Request is the context one authorization decision is made in.
type Request struct {
	// Principal identifies the caller: its ARN (the session ARN for an
	// assumed role), the service principal name for Service, or the
	// provider for WebIdentity. It is the "User:" of AccessDenied messages.
	Principal string
	// Account is the caller's account id; empty for services and anonymous
	// callers.
	Account string
	Type    PrincipalType
	// RoleARN is the IAM role behind an AssumedRole session, with its path
	// (arn:aws:iam::ACCT:role/PATH/NAME). It is the session's
	// aws:PrincipalArn; when empty it is derived from Principal, without
	// the path, which costs an allocation per use.
	RoleARN string
	// UserID is aws:userid (AIDA…, AROA…:session); the account id for Root
	// when empty.
	UserID string

	Action   string // "kms:Decrypt"
	Resource string // the key ARN
	// ResourceAccount owns Resource; derived from the Resource ARN when empty.
	ResourceAccount string

	// Time is the request time: aws:CurrentTime and aws:EpochTime. Zero
	// leaves both keys absent.
	Time time.Time

	// Keys of the request itself, as fields so that a request is built
	// without a map (each is absent when empty): aws:SourceIp,
	// aws:SecureTransport ("true" or "false"), aws:RequestedRegion,
	// kms:RequestAlias, and the kms:EncryptionContext:<k> and
	// kms:EncryptionContextKeys keys of EncryptionContext, as
	// SetEncryptionContext defines them.
	SourceIP          string
	SecureTransport   string
	RequestedRegion   string
	RequestAlias      string
	EncryptionContext map[string]string

	// Operation holds the operation's own condition keys, lower-cased,
	// looked up before the fields above: a key present here replaces
	// theirs, and present with no values makes it absent.
	Operation Context

	// Context holds every other condition key: lower-cased key to values.
	// A key with no values is absent.
	Context Context
	// ResourceContext holds condition keys of the resource (kms:KeySpec,
	// aws:ResourceTag/…), looked up after Context. It is only read, so
	// one map can serve every request on the resource.
	ResourceContext Context
}

// Context maps lower-cased condition keys to their values in a request.
// Keys derived from the principal and the time (aws:PrincipalArn,
// aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:userid,
// aws:CurrentTime, aws:EpochTime, aws:ResourceAccount, kms:CallerAccount,
// aws:PrincipalServiceName, aws:PrincipalIsAWSService) come from the
// Request's fields and are read here only when those fields leave them
// absent.
type Context map[string][]string

// Set stores values under key, lower-casing the key as policies do.
func (c Context) Set(key string, values ...string) {
	c[strings.ToLower(key)] = values
}

// SetEncryptionContext adds the KMS keys an encryption context defines:
// kms:EncryptionContext:<k> for each pair and kms:EncryptionContextKeys.
// The <k> part is lower-cased because AWS compares it case-insensitively
// (conditions-kms.md, "Case sensitivity of the encryption context
// condition"); values and the kms:EncryptionContextKeys list keep their
// case, so a policy needing an exact key uses kms:EncryptionContextKeys.
// Pairs whose keys differ only in case all land under the one lower-cased
// key, as a multi-valued key.
func (c Context) SetEncryptionContext(ec map[string]string) {
	if len(ec) == 0 {
		return
	}
	keys := sortedKeys(ec)
	for _, k := range keys {
		ck := ecPrefix + strings.ToLower(k)
		c[ck] = append(c[ck], ec[k])
	}
	c["kms:encryptioncontextkeys"] = keys
}

// builtin identifies a condition key whose value comes from Request fields.
type builtin uint8

const (
	bNone builtin = iota
	bPrincipalArn
	bPrincipalAccount
	bPrincipalType
	bUsername
	bUserid
	bCurrentTime
	bEpochTime
	bCallerAccount
	bResourceAccount
	bServiceName
	bIsAWSService
)

func builtinFor(key string) builtin {
	switch key {
	case "aws:principalarn":
		return bPrincipalArn
	case "aws:principalaccount":
		return bPrincipalAccount
	case "aws:principaltype":
		return bPrincipalType
	case "aws:username":
		return bUsername
	case "aws:userid":
		return bUserid
	case "aws:currenttime":
		return bCurrentTime
	case "aws:epochtime":
		return bEpochTime
	case "kms:calleraccount":
		return bCallerAccount
	case "aws:resourceaccount":
		return bResourceAccount
	case "aws:principalservicename":
		return bServiceName
	case "aws:principalisawsservice":
		return bIsAWSService
	}
	return bNone
}

type valKind uint8

const (
	vList  valKind = iota // values in list
	vOne                  // the single value one
	vTime                 // the request time, as an ISO 8601 date
	vEpoch                // the request time, as epoch seconds
)

// values is what a request holds for one condition key, without copying.
type values struct {
	kind valKind
	list []string
	one  string
	t    time.Time
}

func (v *values) len() int {
	if v.kind == vList {
		return len(v.list)
	}
	return 1
}

// at returns value i as text. Only the time kinds allocate.
func (v *values) at(i int) string {
	switch v.kind {
	case vOne:
		return v.one
	case vTime:
		return v.t.UTC().Format(time.RFC3339)
	case vEpoch:
		return strconv.FormatInt(v.t.Unix(), 10)
	}
	return v.list[i]
}

// lookup returns the values of a lower-cased key; ok is false when the
// key is absent or has no values.
func (r *Request) lookup(key string, b builtin) (values, bool) {
	if b != bNone {
		if v, ok := r.derived(b); ok {
			return v, true
		}
	}
	list, replaced := r.Operation[key]
	if !replaced {
		if v, ok := r.requestField(key); ok {
			return v, true
		}
		list = r.Context[key]
	}
	if len(list) == 0 && r.ResourceContext != nil {
		list = r.ResourceContext[key]
	}
	return values{list: list}, len(list) > 0
}

// ecPrefix starts the condition keys of one encryption context pair.
const ecPrefix = "kms:encryptioncontext:"

// requestField returns the values a lower-cased key has from the
// request's fields. Only kms:EncryptionContextKeys, and a key matching
// several pairs that differ in case, allocate.
func (r *Request) requestField(key string) (values, bool) {
	one := func(s string) (values, bool) { return values{kind: vOne, one: s}, s != "" }
	switch key {
	case "aws:sourceip":
		return one(r.SourceIP)
	case "aws:securetransport":
		return one(r.SecureTransport)
	case "aws:requestedregion":
		return one(r.RequestedRegion)
	case "kms:requestalias":
		return one(r.RequestAlias)
	case "kms:encryptioncontextkeys":
		if len(r.EncryptionContext) == 0 {
			return values{}, false
		}
		return values{list: sortedKeys(r.EncryptionContext)}, true
	}
	k, ok := strings.CutPrefix(key, ecPrefix)
	if !ok || len(r.EncryptionContext) == 0 {
		return values{}, false
	}
	var match []string // the pairs' keys, when several match
	var first string
	n := 0
	for ck := range r.EncryptionContext {
		if lowerEquals(ck, k) {
			if n++; n == 1 {
				first = ck
			} else {
				match = append(match, ck)
			}
		}
	}
	switch n {
	case 0:
		return values{}, false
	case 1:
		return values{kind: vOne, one: r.EncryptionContext[first]}, true
	}
	match = append(match, first)
	slices.Sort(match)
	vals := make([]string, len(match))
	for i, ck := range match {
		vals[i] = r.EncryptionContext[ck]
	}
	return values{list: vals}, true
}

// lowerEquals reports whether strings.ToLower(s) == lower, without
// allocating when s is ASCII.
func lowerEquals(s, lower string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return strings.ToLower(s) == lower
		}
	}
	if len(s) != len(lower) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (r *Request) derived(b builtin) (values, bool) {
	one := func(s string) (values, bool) { return values{kind: vOne, one: s}, s != "" }
	switch b {
	case bPrincipalArn:
		switch r.Type {
		case Root, User, FederatedUser:
			return one(r.Principal)
		case AssumedRole:
			return one(r.roleARN())
		}
	case bPrincipalAccount, bCallerAccount:
		return one(r.Account)
	case bPrincipalType:
		if r.Type != Service && r.Type != WebIdentity {
			return one(r.Type.String())
		}
	case bUsername:
		if r.Type == User {
			return one(r.Principal[strings.LastIndexByte(r.Principal, '/')+1:])
		}
	case bUserid:
		if r.UserID == "" && r.Type == Root {
			return one(r.Account)
		}
		return one(r.UserID)
	case bCurrentTime:
		return values{kind: vTime, t: r.Time}, !r.Time.IsZero()
	case bEpochTime:
		return values{kind: vEpoch, t: r.Time}, !r.Time.IsZero()
	case bResourceAccount:
		return one(r.resourceAccount())
	case bServiceName:
		if r.Type == Service {
			return one(r.Principal)
		}
	case bIsAWSService:
		if r.Type == Service {
			return one("true")
		}
		return one("false")
	}
	return values{}, false
}

func (r *Request) resourceAccount() string {
	if r.ResourceAccount != "" {
		return r.ResourceAccount
	}
	return arnField(r.Resource, 4)
}

// roleARN is the IAM role of an assumed-role session.
func (r *Request) roleARN() string {
	if r.RoleARN != "" {
		return r.RoleARN
	}
	acct, role, ok := sessionRole(r.Principal)
	if !ok {
		return ""
	}
	return "arn:" + arnField(r.Principal, 1) + ":iam::" + acct + ":role/" + role
}

// arnField returns colon-separated field i of an ARN (0 is "arn"); field 5
// is the rest, colons included. It returns "" when s has too few fields.
func arnField(s string, i int) string {
	for n := i; n > 0; n-- {
		c := strings.IndexByte(s, ':')
		if c < 0 {
			return ""
		}
		s = s[c+1:]
	}
	if i < 5 {
		if c := strings.IndexByte(s, ':'); c >= 0 {
			return s[:c]
		}
	}
	return s
}

// sessionRole splits arn:PART:sts::ACCT:assumed-role/ROLE/SESSION into the
// account and the role name.
func sessionRole(arn string) (account, role string, ok bool) {
	if !strings.HasPrefix(arn, "arn:") || arnField(arn, 2) != "sts" {
		return "", "", false
	}
	res := arnField(arn, 5)
	rest, found := strings.CutPrefix(res, "assumed-role/")
	if !found {
		return "", "", false
	}
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 || slash == len(rest)-1 {
		return "", "", false
	}
	return arnField(arn, 4), rest[:slash], true
}
