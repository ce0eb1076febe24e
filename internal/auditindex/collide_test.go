package auditindex

import (
	"fmt"
	"slices"
	"testing"
)

// TestCollidingTermsAnswerExactly indexes random events of two trails
// with a term hash under which terms collide: all of them, a record's
// own terms among them, or a third of them. Lookups by every attribute
// give the events Records finds, and the same pages with the same tokens
// as an index of the real hash, wherever the postings lie.
func TestCollidingTermsAnswerExactly(t *testing.T) {
	rounds := randomRounds(3)[:12] // a lookup here reads every event of both trails
	allMain, allRecent, bySegments, _ := testPolicies()
	ref := openDirect(t)
	for _, evs := range rounds {
		ref.commit(evs...)
	}
	want := answers(t, ref.ix)
	oneHash := func([]byte) uint64 { return 42 }
	thirds := func(k []byte) uint64 { return termHash(k) % 3 }
	for _, c := range []struct {
		name   string
		hash   func([]byte) uint64
		policy mergePolicy
	}{{"one hash", oneHash, allMain}, {"one hash", oneHash, allRecent}, {"three hashes", thirds, bySegments}} {
		d := openDirect(t)
		d.ix.hash, d.ix.merge = c.hash, c.policy
		for _, evs := range rounds {
			d.commit(evs...)
		}
		what := fmt.Sprintf("%s, policy %+v", c.name, c.policy)
		sameAnswers(t, what, answers(t, d.ix), want)
		for _, q := range lookupCases() {
			q.Limit = 50
			if got, w := pageAll(t, d.ix.Lookup, q), pageAll(t, d.records().Lookup, q); !slices.Equal(got, w) {
				t.Errorf("%s: %v: the index gives %v, records %v", what, q, got, w)
			}
		}
		q := Query{Account: acct, Region: region, Attr: Username, Value: "nobody", Limit: 1}
		if got := pageTokens(t, d.ix, q); !slices.Equal(got, []string{"[] <nil>"}) {
			t.Errorf("%s: a user with no events has pages %v", what, got)
		}
	}
}
