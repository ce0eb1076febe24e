package identity

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/kmsd/kmsd/internal/secret"
)

// ValidAccountID reports whether id is an AWS account id: 12 digits.
func ValidAccountID(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a valid IAM user, role or policy name:
// 1 to max characters of [\w+=,.@-].
func ValidName(s string, max int) bool {
	if len(s) < 1 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return false
		}
	}
	return true
}

func nameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}

// ValidPath reports whether p is an IAM path: "/" or "/" + printable ASCII
// + "/", at most 512 characters.
func ValidPath(p string) bool {
	if len(p) < 1 || len(p) > 512 || p[0] != '/' || p[len(p)-1] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return false
		}
	}
	return true
}

// lowerKey is the store key of an account's user or role: IAM names are
// unique regardless of case.
func lowerKey(account, name string) []byte {
	return []byte(account + "/" + strings.ToLower(name))
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newID returns prefix followed by n random characters of the alphabet AWS
// uses for access key ids and unique ids.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	for _, c := range b {
		out = append(out, idAlphabet[int(c)%len(idAlphabet)]) // 256 is a multiple of 32: no bias
	}
	return string(out)
}

// Unique id and access key id prefixes, as AWS uses them.
const (
	prefixUser       = "AIDA"
	prefixRole       = "AROA"
	prefixAccessKey  = "AKIA"
	prefixSessionKey = "ASIA"
)

func newAccessKeyID() string { return newID(prefixAccessKey, 16) }

func newSecret() secret.Bytes {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return secret.Bytes(base64.StdEncoding.EncodeToString(b)) // 40 characters, like AWS's
}

// RootARN is the ARN of an account's root user.
func RootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

func userARN(account, path, name string) string {
	return "arn:aws:iam::" + account + ":user" + path + name
}

func roleARN(account, path, name string) string {
	return "arn:aws:iam::" + account + ":role" + path + name
}

func assumedRoleARN(account, role, session string) string {
	return "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session
}

// ParsedARN is an IAM or STS principal ARN taken apart.
type ParsedARN struct {
	Service  string // "iam" or "sts"
	Account  string
	Kind     string // "root", "user", "role" or "assumed-role"
	Path     string // "/" or "/a/b/" for users and roles
	Name     string // user or role name
	Session  string // session name of an assumed role
	Original string
}

// ParseARN takes apart arn:aws:iam::ACCT:root, arn:aws:iam::ACCT:user/PATH/NAME,
// arn:aws:iam::ACCT:role/PATH/NAME and arn:aws:sts::ACCT:assumed-role/ROLE/SESSION.
func ParseARN(arn string) (ParsedARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[3] != "" || !ValidAccountID(parts[4]) {
		return ParsedARN{}, false
	}
	p := ParsedARN{Service: parts[2], Account: parts[4], Original: arn}
	res := parts[5]
	switch {
	case p.Service == "iam" && res == "root":
		p.Kind = "root"
		return p, true
	case p.Service == "iam" && (strings.HasPrefix(res, "user/") || strings.HasPrefix(res, "role/")):
		p.Kind, res, _ = strings.Cut(res, "/")
		i := strings.LastIndexByte(res, '/')
		p.Path, p.Name = "/"+res[:i+1], res[i+1:]
		return p, ValidPath(p.Path) && ValidName(p.Name, 64)
	case p.Service == "sts" && strings.HasPrefix(res, "assumed-role/"):
		rest := strings.TrimPrefix(res, "assumed-role/")
		role, session, ok := strings.Cut(rest, "/")
		p.Kind, p.Name, p.Session = "assumed-role", role, session
		return p, ok && ValidName(role, 64) && validSessionName(session)
	}
	return ParsedARN{}, false
}

// validSessionName checks a RoleSessionName: 2 to 64 characters of [\w+=,.@-].
func validSessionName(s string) bool { return len(s) >= 2 && ValidName(s, 64) }
