package cloudtrail

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/kmsd/kmsd/internal/auditindex"
)

// A NextToken is base64url(version | be32 time | be64 seq | fingerprint):
// the position of the last event of the page, and the first bytes of a
// hash of the request's other parameters, which must come back with it
// unchanged, as AWS requires. It authorizes nothing: it only says where a
// lookup of the caller's own trail resumes.
const (
	tokenVersion     = 1
	fingerprintBytes = 12
	tokenBytes       = 1 + 4 + 8 + fingerprintBytes
)

// fingerprint hashes what a token is bound to: the trail and every
// parameter of the lookup but MaxResults.
func fingerprint(q *auditindex.Query, category EventCategory) []byte {
	h := sha256.New()
	for _, s := range []string{q.Account, q.Region, string(q.Attr), q.Value, string(category),
		strconv.FormatInt(unixNanoOrZero(q.Start), 10), strconv.FormatInt(unixNanoOrZero(q.End), 10)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return h.Sum(nil)[:fingerprintBytes]
}

func encodeToken(p auditindex.Position, fp []byte) string {
	b := make([]byte, 0, tokenBytes)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint32(b, p.Time)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = append(b, fp...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the position a token resumes at, or false if it is
// not a token of a lookup with these parameters.
func decodeToken(s string, fp []byte) (auditindex.Position, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenBytes || b[0] != tokenVersion || subtle.ConstantTimeCompare(b[13:], fp) != 1 {
		return auditindex.Position{}, false
	}
	return auditindex.Position{Time: binary.BigEndian.Uint32(b[1:]), Seq: binary.BigEndian.Uint64(b[5:])}, true
}

// unixNanoOrZero keeps an absent time apart from any instant.
func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
