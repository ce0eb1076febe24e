package cloudtrail

import (
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// FuzzNextToken decodes arbitrary tokens: no panic, and a token is
// accepted only for the parameters it was issued with.
func FuzzNextToken(f *testing.F) {
	fp := fingerprint(&auditindex.Query{Account: "111122223333", Region: "us-east-1"}, "")
	other := fingerprint(&auditindex.Query{Account: "444455556666", Region: "us-east-1"}, "")
	f.Add(encodeToken(auditindex.Position{Time: 1700000000, Seq: 42}, fp))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := decodeToken(s, fp)
		if !ok {
			return
		}
		if _, ok := decodeToken(s, other); ok {
			t.Fatalf("token %q accepted for two different lookups", s)
		}
		if back, ok := decodeToken(encodeToken(p, fp), fp); !ok || back != p {
			t.Fatalf("token %q: position %+v does not round-trip", s, p)
		}
	})
}

// FuzzLookupEventsRequest decodes and validates arbitrary request bodies:
// no panic, and every refusal is one of the exceptions AWS answers with.
func FuzzLookupEventsRequest(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"LookupAttributes":[{"AttributeKey":"ResourceName","AttributeValue":"arn:aws:kms:us-east-1:111122223333:key/k"}],"MaxResults":5}`,
		`{"StartTime":1700000000.5,"EndTime":1.6E9,"EventCategory":"insight"}`,
		`{"LookupAttributes":[{"AttributeKey":"Colour"},{}],"MaxResults":-1,"NextToken":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	codes := []string{kmserr.Serialization, CodeInvalidLookupAttributes, CodeInvalidTimeRange, CodeInvalidMaxResults, CodeInvalidEventCategory}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in LookupEventsRequest
		err := decodeBody(body, &in)
		if err == nil {
			c := &call{caller: kms.Caller{AccountID: "111122223333", Region: "us-east-1"}}
			var q auditindex.Query
			if q, err = lookupQuery(c, &in); err == nil && (q.Limit < MaxResultsMin || q.Limit > MaxResultsMax) {
				t.Fatalf("limit %d accepted", q.Limit)
			}
		}
		if err != nil && !slices.Contains(codes, kmserr.CodeOf(err)) {
			t.Fatalf("%q: %v", body, err)
		}
	})
}
