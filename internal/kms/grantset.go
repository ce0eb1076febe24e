package kms

import (
	"sort"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

// Grant constraint types, as AWS names them (kms:GrantConstraintType).
const (
	constraintEquals = "EncryptionContextEquals"
	constraintSubset = "EncryptionContextSubset"
)

// opSet is a set of grant operations, one bit each.
type opSet uint32

// grantOpBits numbers the GrantOperation enum. It is built once and only read.
var grantOpBits = func() map[string]opSet {
	m := make(map[string]opSet)
	for i, op := range kmsapi.GrantOperation("").Values() {
		m[string(op)] = 1 << i
	}
	return m
}()

var (
	opCreateGrant = grantOpBits["CreateGrant"]
	opRetireGrant = grantOpBits["RetireGrant"]
	opDescribeKey = grantOpBits["DescribeKey"]
)

func opsOf(names []string) opSet {
	var s opSet
	for _, n := range names {
		s |= grantOpBits[n]
	}
	return s
}

// grant is a record compiled for evaluation.
type grant struct {
	rec *grantRecord
	ops opSet
	// pairs are the constraint's pairs; distinct is true when no two of
	// their keys differ only by case, which lets Equals check one way.
	pairs    []ecPair
	distinct bool
}

type ecPair struct{ k, v string }

func compileGrant(r *grantRecord) *grant {
	g := &grant{rec: r, ops: opsOf(r.Operations), distinct: true}
	for k, v := range r.Context {
		for _, p := range g.pairs {
			if strings.EqualFold(p.k, k) {
				g.distinct = false
			}
		}
		g.pairs = append(g.pairs, ecPair{k, v})
	}
	return g
}

// grantSet holds a key's grants in a cachedKey: all of them by id for
// listing, and indexed by grantee so a request looks only at the caller's.
// It is immutable once built.
type grantSet struct {
	all    []*grant // ascending GrantID
	byID   map[string]*grant
	byARN  map[string][]*grant  // grantee ARN or service principal, as written
	byRole map[roleRef][]*grant // grantee IAM roles, matched by their sessions too
}

// roleRef names an IAM role without its path: role names are unique in an
// account, and a session ARN carries the name alone.
type roleRef struct{ partition, account, name string }

func newGrantSet(recs []*grantRecord) *grantSet {
	if len(recs) == 0 {
		return nil
	}
	gs := &grantSet{
		all:    make([]*grant, 0, len(recs)),
		byID:   make(map[string]*grant, len(recs)),
		byARN:  make(map[string][]*grant),
		byRole: make(map[roleRef][]*grant),
	}
	for _, r := range recs {
		g := compileGrant(r)
		gs.all = append(gs.all, g)
		gs.byID[r.GrantID] = g
		if role, ok := roleOf(r.Grantee); ok && !r.GranteeService {
			gs.byRole[role] = append(gs.byRole[role], g)
		} else {
			gs.byARN[r.Grantee] = append(gs.byARN[r.Grantee], g)
		}
	}
	sort.Slice(gs.all, func(i, j int) bool { return gs.all[i].rec.GrantID < gs.all[j].rec.GrantID })
	return gs
}

func (gs *grantSet) get(id string) *grant {
	if gs == nil {
		return nil
	}
	return gs.byID[id]
}

func (gs *grantSet) len() int {
	if gs == nil {
		return 0
	}
	return len(gs.all)
}

// each calls fn for the caller's grants until fn returns true.
func (gs *grantSet) each(c *Caller, fn func(*grant) bool) bool {
	if gs == nil {
		return false
	}
	for _, g := range gs.byARN[c.ARN] {
		if fn(g) {
			return true
		}
	}
	if role, ok := sessionRole(c.ARN); ok {
		for _, g := range gs.byRole[role] {
			if fn(g) {
				return true
			}
		}
	}
	return false
}

// allows reports whether a grant lets the caller perform action with the
// encryption context ec. CreateGrant and RetireGrant are decided per
// request (allowsCreateGrant, canRetire), never here.
func (gs *grantSet) allows(c *Caller, action string, ec map[string]string) bool {
	return gs.allowing(c, action, ec) != nil
}

// allowing returns the first grant that lets the caller perform action
// with the encryption context ec, or nil.
func (gs *grantSet) allowing(c *Caller, action string, ec map[string]string) *grant {
	if gs == nil {
		return nil
	}
	name, ok := strings.CutPrefix(action, "kms:")
	if !ok {
		return nil
	}
	op := grantOpBits[name]
	if op == 0 || op == opCreateGrant || op == opRetireGrant {
		return nil
	}
	var found *grant
	gs.each(c, func(g *grant) bool {
		if g.permits(op, ec) {
			found = g
			return true
		}
		return false
	})
	return found
}

// permits applies a grant to one operation. An encryption context
// constraint does not apply to DescribeKey, as AWS documents; a SourceArn
// constraint holds only for a request made on behalf of that resource,
// which kmsd's callers never are.
func (g *grant) permits(op opSet, ec map[string]string) bool {
	if g.ops&op == 0 || g.rec.SourceArn != "" {
		return false
	}
	if op == opDescribeKey {
		return true
	}
	return g.contextHolds(ec)
}

// contextHolds checks a request's encryption context against the grant's
// constraint. As the GrantConstraints reference says, constraint keys
// match without regard to case and values match exactly.
func (g *grant) contextHolds(ec map[string]string) bool {
	switch g.rec.Constraint {
	case constraintEquals:
		if len(ec) != len(g.pairs) {
			return false
		}
		if !g.distinct && !pairsIn(ec, g.rec.Context) {
			return false
		}
	case constraintSubset:
	default:
		return true
	}
	for _, p := range g.pairs {
		if v, ok := lookupFold(ec, p.k); !ok || v != p.v {
			return false
		}
	}
	return true
}

// pairsIn reports whether every pair of want is in have.
func pairsIn(want, have map[string]string) bool {
	for k, v := range want {
		if got, ok := lookupFold(have, k); !ok || got != v {
			return false
		}
	}
	return true
}

// lookupFold finds k in m, ignoring case when it is not there as written.
func lookupFold(m map[string]string, k string) (string, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return "", false
}

// allowsCreateGrant reports whether the caller may create child through a
// grant: a grant of the caller's allows CreateGrant and every operation of
// child, and child's constraint is at least as strict as its own.
func (gs *grantSet) allowsCreateGrant(c *Caller, child *grantRecord) bool {
	ops := opsOf(child.Operations)
	return gs.each(c, func(g *grant) bool {
		return g.ops&opCreateGrant != 0 && g.rec.SourceArn == "" && ops&^g.ops == 0 && atLeastAsStrict(g.rec, child)
	})
}

// atLeastAsStrict: a child of a Subset grant keeps (and may add to) its
// pairs under Subset or Equals; a child of an Equals grant keeps Equals
// with the same pairs.
func atLeastAsStrict(parent, child *grantRecord) bool {
	switch parent.Constraint {
	case constraintSubset:
		return child.Constraint != "" && pairsIn(parent.Context, child.Context)
	case constraintEquals:
		return child.Constraint == constraintEquals && len(child.Context) == len(parent.Context) &&
			pairsIn(parent.Context, child.Context) && pairsIn(child.Context, parent.Context)
	}
	return true
}

// canRetire applies AWS's retirement rule: the retiring principal, the
// grantee when the grant allows RetireGrant, and the account that created
// the grant may retire it. Constraints do not apply to RetireGrant.
func (g *grant) canRetire(c *Caller) bool {
	r := g.rec
	return (r.Retiring != "" && principalMatches(c, r.Retiring)) ||
		(g.ops&opRetireGrant != 0 && principalMatches(c, r.Grantee)) ||
		c.ARN == r.IssuingAccount
}

// principalMatches reports whether the caller is principal: the same ARN,
// or a session of that IAM role.
func principalMatches(c *Caller, principal string) bool {
	if c.ARN == principal {
		return true
	}
	role, ok := roleOf(principal)
	if !ok {
		return false
	}
	s, ok := sessionRole(c.ARN)
	return ok && s == role
}

// roleOf parses arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME.
func roleOf(arn string) (roleRef, bool) {
	part, account, res, ok := splitPrincipalARN(arn, "iam")
	if !ok {
		return roleRef{}, false
	}
	rest, ok := strings.CutPrefix(res, "role/")
	if !ok || rest == "" {
		return roleRef{}, false
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	if name == "" {
		return roleRef{}, false
	}
	return roleRef{part, account, name}, true
}

// sessionRole parses arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION
// into the role it is a session of.
func sessionRole(arn string) (roleRef, bool) {
	part, account, res, ok := splitPrincipalARN(arn, "sts")
	if !ok {
		return roleRef{}, false
	}
	rest, ok := strings.CutPrefix(res, "assumed-role/")
	if !ok {
		return roleRef{}, false
	}
	role, session, ok := strings.Cut(rest, "/")
	if !ok || role == "" || session == "" || strings.IndexByte(session, '/') >= 0 {
		return roleRef{}, false
	}
	return roleRef{part, account, role}, true
}

// splitPrincipalARN splits arn:PARTITION:SERVICE::ACCOUNT:RESOURCE for one
// IAM or STS service, without allocating.
func splitPrincipalARN(arn, service string) (part, account, res string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", "", "", false
	}
	part, rest, ok = strings.Cut(rest, ":")
	if !ok || !strings.HasPrefix(part, "aws") {
		return "", "", "", false
	}
	rest, ok = strings.CutPrefix(rest, service)
	if ok {
		rest, ok = strings.CutPrefix(rest, "::")
	}
	if !ok {
		return "", "", "", false
	}
	account, res, ok = strings.Cut(rest, ":")
	if !ok || !isAccountNumber(account) {
		return "", "", "", false
	}
	return part, account, res, true
}

// validPrincipalARN accepts the principals a grant may name: an account
// (its root), an IAM user or role, an assumed-role session or a federated
// user. Groups, wildcards and other resources are not principals.
func validPrincipalARN(arn string) bool {
	if _, ok := roleOf(arn); ok {
		return true
	}
	if _, ok := sessionRole(arn); ok {
		return true
	}
	if _, _, res, ok := splitPrincipalARN(arn, "iam"); ok {
		if res == "root" {
			return true
		}
		name, ok := strings.CutPrefix(res, "user/")
		return ok && name != "" && !strings.HasSuffix(name, "/") && !strings.Contains(name, "*")
	}
	if _, _, res, ok := splitPrincipalARN(arn, "sts"); ok {
		name, ok := strings.CutPrefix(res, "federated-user/")
		return ok && name != "" && !strings.Contains(name, "/")
	}
	return false
}

// principalAccount returns the account of an IAM or STS principal ARN.
func principalAccount(arn string) string {
	for _, service := range []string{"iam", "sts"} {
		if _, account, _, ok := splitPrincipalARN(arn, service); ok {
			return account
		}
	}
	return ""
}

// validServicePrincipal accepts a service principal such as
// logs.amazonaws.com or dynamodb.us-west-2.amazonaws.com.
func validServicePrincipal(p string) bool {
	if !strings.Contains(p, ".") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isServiceCaller reports whether the caller is an AWS service principal.
func isServiceCaller(c *Caller) bool { return c.ARN != "" && validServicePrincipal(c.ARN) }

// listEntry renders a grant as ListGrants shows it.
func (r *grantRecord) listEntry() kmsapi.GrantListEntry {
	e := kmsapi.GrantListEntry{
		KeyId:             keyARN(r.Region, r.AccountID, r.KeyID),
		GrantId:           r.GrantID,
		Name:              r.Name,
		CreationDate:      kmsapi.Time(r.Created),
		GranteePrincipal:  r.Grantee,
		RetiringPrincipal: r.Retiring,
		IssuingAccount:    r.IssuingAccount,
		Operations:        enumList[kmsapi.GrantOperation](r.Operations),
	}
	// A service grantee shows in GranteePrincipal too, as AWS's do.
	if r.GranteeService {
		e.GranteeServicePrincipal = r.Grantee
	}
	if r.RetiringService {
		e.RetiringServicePrincipal = r.Retiring
	}
	if r.Constraint != "" || r.SourceArn != "" {
		c := &kmsapi.GrantConstraints{SourceArn: r.SourceArn}
		ctx := r.Context
		if ctx == nil {
			ctx = map[string]string{}
		}
		switch r.Constraint {
		case constraintEquals:
			c.EncryptionContextEquals = ctx
		case constraintSubset:
			c.EncryptionContextSubset = ctx
		}
		e.Constraints = c
	}
	return e
}
