package policy

import "strings"

// Match says how a statement's Principal covered the caller. The KMS
// decision needs it: a key policy that names the caller's account root
// delegates to that account's identity policies, while one that names the
// caller (or "*") allows by itself.
type Match uint8

const (
	// MatchNone: the statement has no Principal element, as in identity
	// policies, which apply to the principal they are attached to.
	MatchNone Match = iota
	// MatchAccount: through the caller's account (an account id or
	// arn:aws:iam::ACCT:root), which delegates to the account's IAM.
	MatchAccount
	// MatchWildcard: through "*" (or through a NotPrincipal that does not
	// exclude the caller).
	MatchWildcard
	// MatchPrincipal: the caller by name, or the role behind its session.
	MatchPrincipal
)

func (m Match) String() string {
	return [...]string{"none", "account", "wildcard", "principal"}[m]
}

type principalKind uint8

const (
	prAnyone        principalKind = iota // "*"
	prAccount                            // every identity of an account
	prUser                               // an IAM user ARN
	prRole                               // a role, and so its sessions
	prSession                            // one assumed-role session ARN
	prFederatedUser                      // an STS federated-user ARN
	prService                            // a service principal name
	prProvider                           // a federated identity provider
)

type principal struct {
	kind    principalKind
	account string
	// sessions is, for prRole, the prefix every session ARN of the role
	// has: arn:PART:sts::ACCT:assumed-role/NAME/ (session ARNs drop the
	// role's path, and role names are unique in an account).
	sessions string
	value    string // canonical text: ARN, service name or provider
}

// parsePrincipals reads a Principal or NotPrincipal element.
func parsePrincipals(v *jvalue) ([]principal, error) {
	invalid := malformed(MsgInvalidPrincipals)
	if v.kind == jString {
		if v.s == "*" {
			return []principal{{kind: prAnyone, value: "*"}}, nil
		}
		return nil, invalid
	}
	if v.kind != jObject || len(v.fields) == 0 {
		return nil, invalid
	}
	var out []principal
	for _, f := range v.fields {
		vals, ok := f.val.strings()
		if !ok || len(vals) == 0 {
			return nil, invalid
		}
		for _, s := range vals {
			var p principal
			var ok bool
			switch f.name {
			case "AWS":
				p, ok = parseAWSPrincipal(s)
			case "Service":
				p, ok = principal{kind: prService, value: s}, isDNSName(s)
			case "Federated":
				p, ok = parseProvider(s)
			}
			if !ok {
				return nil, invalid
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func parseAWSPrincipal(s string) (principal, bool) {
	if s == "*" {
		return principal{kind: prAnyone, value: "*"}, true
	}
	if isAccountID(s) {
		return principal{kind: prAccount, account: s, value: "arn:aws:iam::" + s + ":root"}, true
	}
	if strings.ContainsAny(s, "*?") || !strings.HasPrefix(s, "arn:") || strings.Count(s, ":") != 5 {
		return principal{}, false
	}
	part, svc, region, acct, res := arnField(s, 1), arnField(s, 2), arnField(s, 3), arnField(s, 4), arnField(s, 5)
	if !isPartition(part) || region != "" || !isAccountID(acct) {
		return principal{}, false
	}
	p := principal{account: acct, value: s}
	switch svc {
	case "iam":
		switch {
		case res == "root":
			p.kind = prAccount
			return p, true
		case strings.HasPrefix(res, "user/"):
			p.kind = prUser
			return p, pathName(res[len("user/"):]) != ""
		case strings.HasPrefix(res, "role/"):
			name := pathName(res[len("role/"):])
			p.kind, p.sessions = prRole, "arn:"+part+":sts::"+acct+":assumed-role/"+name+"/"
			return p, name != ""
		}
	case "sts":
		if _, _, ok := sessionRole(s); ok {
			p.kind = prSession
			return p, strings.Count(res, "/") == 2
		}
		if name, ok := strings.CutPrefix(res, "federated-user/"); ok && name != "" && !strings.Contains(name, "/") {
			p.kind = prFederatedUser
			return p, true
		}
	}
	return principal{}, false
}

// pathName returns the last element of PATH/NAME, or "" if malformed.
func pathName(s string) string {
	if s == "" || strings.HasSuffix(s, "/") {
		return ""
	}
	return s[strings.LastIndexByte(s, '/')+1:]
}

func parseProvider(s string) (principal, bool) {
	p := principal{kind: prProvider, value: s}
	if strings.HasPrefix(s, "arn:") {
		res := arnField(s, 5)
		ok := !strings.ContainsAny(s, "*?") && strings.Count(s, ":") == 5 && arnField(s, 2) == "iam" &&
			isPartition(arnField(s, 1)) && isAccountID(arnField(s, 4)) &&
			(strings.HasPrefix(res, "saml-provider/") || strings.HasPrefix(res, "oidc-provider/"))
		return p, ok
	}
	return p, isDNSName(strings.SplitN(s, "/", 2)[0])
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isPartition(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// isDNSName accepts service principal and provider names: dotted labels of
// letters, digits and hyphens.
func isDNSName(s string) bool {
	if s == "" || !strings.Contains(s, ".") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// covers reports whether p names the caller of r.
func (p *principal) covers(r *Request) bool {
	switch p.kind {
	case prAnyone:
		return true
	case prAccount:
		switch r.Type {
		case Root, User, AssumedRole, FederatedUser:
			return r.Account == p.account
		}
	case prUser:
		return r.Type == User && r.Principal == p.value
	case prRole:
		if r.Type == AssumedRole && strings.HasPrefix(r.Principal, p.sessions) {
			session := r.Principal[len(p.sessions):]
			return session != "" && strings.IndexByte(session, '/') < 0
		}
	case prSession:
		return r.Type == AssumedRole && r.Principal == p.value
	case prFederatedUser:
		return r.Type == FederatedUser && r.Principal == p.value
	case prService:
		return r.Type == Service && r.Principal == p.value
	case prProvider:
		return r.Type == WebIdentity && r.Principal == p.value
	}
	return false
}

// bestMatch returns the strongest way the principals cover the caller.
func bestMatch(ps []principal, r *Request) (Match, bool) {
	best, found := MatchNone, false
	for i := range ps {
		p := &ps[i]
		if !p.covers(r) {
			continue
		}
		m := MatchPrincipal
		switch p.kind {
		case prAnyone:
			m = MatchWildcard
		case prAccount:
			m = MatchAccount
		}
		if !found || m > best {
			best, found = m, true
		}
		if best == MatchPrincipal {
			break
		}
	}
	return best, found
}

// excludes reports whether a NotPrincipal list leaves the caller out. AWS
// may check each identity in the caller's chain (account, role, session),
// so, as the IAM guide advises, a user or session is excluded only when
// its account is listed too; a session is covered by its role or its own
// ARN. Anything less leaves the caller in, so a Deny still applies.
func excludes(ps []principal, r *Request) bool {
	var account, specific bool
	for i := range ps {
		p := &ps[i]
		switch {
		case p.kind == prAnyone:
			return true
		case !p.covers(r):
		case p.kind == prAccount:
			account = true
		default:
			specific = true
		}
	}
	switch r.Type {
	case Root:
		return account
	case User, AssumedRole, FederatedUser:
		return account && specific
	}
	return specific
}
