package auditindex

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/audit"
)

// testPolicies are merge policies that leave postings in one place or
// another: every commit's groups put in "postings"; every commit a
// segment, never merged; merged every five segments, a few groups a
// transaction; merged once the segments hold a group for every 64 bytes of
// "postings", 50 groups a transaction.
func testPolicies() (allMain, allRecent, bySegments, byRatio mergePolicy) {
	return mergePolicy{span: 1 << 40, maxSegments: math.MaxUint32, chunk: mergeChunk},
		mergePolicy{span: 0, maxSegments: math.MaxUint32, chunk: mergeChunk},
		mergePolicy{span: 0, maxSegments: 5, chunk: 7},
		mergePolicy{span: 64, maxSegments: math.MaxUint32, chunk: 50}
}

// randomRounds is commits of random events: two accounts, a few users,
// names and many keys, at times that go back and forth within and across
// commits, some commits of hundreds of events in a second or two (groups
// split at maxGroup).
//
// Under the race detector the rounds hold about half as many events (the
// large ones all in one second, so that groups still split): the lookups
// of these tests read every event many times, and what they check of the
// results is the same at either size, which the run without the detector
// covers in full.
func randomRounds(seed uint64) [][]*audit.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	small, large, largeSpread := 60, 200, 2
	if raceEnabled {
		small, large, largeSpread = 20, maxGroup+12, 1
	}
	var rounds [][]*audit.Event
	for c := range 40 {
		n, spread := 1+rng.IntN(small), 40
		if c%9 == 4 {
			n, spread = large+rng.IntN(large), largeSpread
		}
		var evs []*audit.Event
		for range n {
			at := t0.Add(time.Duration(c+rng.IntN(spread)-spread/2)*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
			account := []string{acct, acct, acct, other}[rng.IntN(4)]
			user := "u" + strconv.Itoa(rng.IntN(5))
			name := []string{"Encrypt", "Decrypt", "GenerateDataKey", "CreateKey"}[rng.IntN(4)]
			key := "k" + strconv.Itoa(rng.IntN(60))
			if rng.IntN(10) == 0 {
				key = "" // no resource
			}
			evs = append(evs, event(account, user, name, key, at))
		}
		rounds = append(rounds, evs)
	}
	return rounds
}

// lookupCases are queries by every attribute and value the random events
// have, some within a time range.
func lookupCases() []Query {
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	qs := []Query{{}, {Account: other}, {Attr: EventSource, Value: audit.EventSource}, {Attr: ReadOnly, Value: "true"}, {Attr: ReadOnly, Value: "false"},
		{Attr: ResourceType, Value: "AWS::KMS::Key"}}
	for _, n := range []string{"Encrypt", "Decrypt", "GenerateDataKey", "CreateKey"} {
		qs = append(qs, Query{Attr: EventName, Value: n})
	}
	for i := range 5 {
		qs = append(qs, Query{Attr: Username, Value: "u" + strconv.Itoa(i)}, Query{Attr: AccessKeyID, Value: "AKIAu" + strconv.Itoa(i)})
	}
	for i := 0; i < 60; i += 7 {
		qs = append(qs, Query{Attr: ResourceName, Value: "arn:aws:kms:" + region + ":" + acct + ":key/k" + strconv.Itoa(i)})
	}
	var out []Query
	for _, q := range qs {
		if q.Account == "" {
			q.Account = acct
		}
		q.Region = region
		out = append(out, q)
		q.Start, q.End = t0.Add(5*time.Second), t0.Add(20*time.Second+500*time.Millisecond)
		out = append(out, q)
	}
	return out
}

// pageTokens lists every page of q's answer: its seqs and its Next.
func pageTokens(t *testing.T, ix *Index, q Query) []string {
	t.Helper()
	var out []string
	for range 5000 {
		p, err := ix.Lookup(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		s := make([]uint64, len(p.Events))
		for i, ev := range p.Events {
			s[i] = ev.Seq
		}
		out = append(out, fmt.Sprint(s, p.Next))
		if p.Next == nil {
			return out
		}
		q.After = p.Next
	}
	t.Fatal("paging does not end")
	return nil
}

// answers are the pages of every lookup case, with limits of 1, 7 and 50.
func answers(t *testing.T, ix *Index) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	for _, q := range lookupCases() {
		for _, limit := range []int{1, 7, 50} {
			q.Limit = limit
			out[fmt.Sprint(q)] = pageTokens(t, ix, q)
		}
	}
	return out
}

func recentGroups(t *testing.T, ix *Index) int {
	t.Helper()
	var n int
	if err := ix.db.View(func(tx *bbolt.Tx) error { n = tx.Bucket(bucketRecent).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != ix.st.RecentGroups {
		t.Errorf("%d groups in recent, the state says %d", n, ix.st.RecentGroups)
	}
	return n
}

func sameAnswers(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for q, w := range want {
		if g := got[q]; !slices.Equal(g, w) {
			t.Errorf("%s: %s: pages %v, want %v", what, q, g, w)
		}
	}
}

// TestPostingsAnswerTheSameWhereverTheyLie indexes the same random events
// with their postings all in "postings", all in segments, and split
// between them by merges of either kind (some moving a few groups a
// transaction): every lookup gives the same pages with the same tokens,
// and the events Records finds; merging the segments changes nothing.
func TestPostingsAnswerTheSameWhereverTheyLie(t *testing.T) {
	rounds := randomRounds(1)
	allMain, allRecent, bySegments, byRatio := testPolicies()
	policies := []mergePolicy{allMain, allRecent, bySegments, byRatio}
	logs := make([]*directLog, len(policies))
	for i, p := range policies {
		logs[i] = openDirect(t)
		logs[i].ix.merge = p
		for _, evs := range rounds {
			logs[i].commit(evs...)
		}
	}
	if n := recentGroups(t, logs[0].ix); n != 0 {
		t.Fatalf("%d groups in segments with every commit put in postings", n)
	}
	if n := recentGroups(t, logs[1].ix); n == 0 || logs[1].ix.st.NextSegment != uint32(len(rounds)) {
		t.Fatalf("%d groups in %d segments, want every commit's", n, logs[1].ix.st.NextSegment)
	}
	want := answers(t, logs[0].ix)
	for i, d := range logs[1:] {
		sameAnswers(t, fmt.Sprintf("policy %+v", policies[i+1]), answers(t, d.ix), want)
	}
	for _, q := range lookupCases() {
		q.Limit = 50
		if got, w := pageAll(t, logs[1].ix.Lookup, q), pageAll(t, logs[1].records().Lookup, q); !slices.Equal(got, w) {
			t.Errorf("%v: the index gives %v, records %v", q, got, w)
		}
	}

	d := logs[1]
	if err := d.ix.mergeRecent(); err != nil {
		t.Fatal(err)
	}
	if n := recentGroups(t, d.ix); n != 0 || d.ix.st.NextSegment != 0 {
		t.Fatalf("%d groups left in %d segments after a merge", n, d.ix.st.NextSegment)
	}
	sameAnswers(t, "merged", answers(t, d.ix), want)
}

// TestLookupsDuringAMerge stops a merge of every segment between its
// transactions: lookups give the pages they give with no segments, and a
// commit after a merge left half done finishes it first.
func TestLookupsDuringAMerge(t *testing.T) {
	rounds := randomRounds(4)
	allMain, allRecent, _, _ := testPolicies()
	ref, d := openDirect(t), openDirect(t)
	ref.ix.merge, d.ix.merge = allMain, allRecent
	for _, evs := range rounds[:30] {
		ref.commit(evs...)
		d.commit(evs...)
	}
	want := answers(t, ref.ix)
	d.ix.merge.chunk = d.ix.st.RecentGroups/5 + 1
	step := func() bool {
		t.Helper()
		st := d.ix.st
		var done bool
		if err := d.ix.update(func(tx *bbolt.Tx) (err error) { done, err = d.ix.mergeStep(tx, &st); return err }); err != nil {
			t.Fatal(err)
		}
		d.ix.st = st
		return done
	}
	for i := 1; !step(); i++ {
		sameAnswers(t, fmt.Sprintf("after %d merge steps", i), answers(t, d.ix), want)
	}
	if n := recentGroups(t, d.ix); n != 0 || d.ix.st.Merging {
		t.Fatalf("%d groups left in segments after a merge (merging %v)", n, d.ix.st.Merging)
	}

	for _, evs := range rounds[30:35] {
		ref.commit(evs...)
		d.commit(evs...)
	}
	d.ix.merge.chunk = 3
	if step() || !d.ix.st.Merging {
		t.Fatal("the merge did not stop half way")
	}
	for _, evs := range rounds[35:] {
		ref.commit(evs...)
		d.commit(evs...)
		if d.ix.st.Merging {
			t.Fatal("a commit left a merge half done")
		}
	}
	sameAnswers(t, "indexed after a merge left half done", answers(t, d.ix), answers(t, ref.ix))
}

// TestSegmentsOutliveAReopen closes an index whose postings are in
// segments, reopens it, and indexes more: nothing is lost or found twice.
func TestSegmentsOutliveAReopen(t *testing.T) {
	rounds := randomRounds(2)
	allMain, _, bySegments, _ := testPolicies()
	ref, d := openDirect(t), openDirect(t)
	ref.ix.merge, d.ix.merge = allMain, bySegments
	for _, evs := range rounds[:23] {
		ref.commit(evs...)
		d.commit(evs...)
	}
	if recentGroups(t, d.ix) == 0 {
		t.Fatal("no segments to keep")
	}
	st := d.ix.st
	if err := d.ix.sync(); err != nil {
		t.Fatal(err)
	}
	if err := d.ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(d.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	ix.merge, d.ix = bySegments, ix
	if ix.st != st {
		t.Fatalf("reopened at %+v, closed at %+v", ix.st, st)
	}
	sameAnswers(t, "reopened", answers(t, d.ix), answers(t, ref.ix))
	for _, evs := range rounds[23:] {
		ref.commit(evs...)
		d.commit(evs...)
	}
	sameAnswers(t, "reopened and indexed more", answers(t, d.ix), answers(t, ref.ix))
}

// TestRebuildsAnIndexOfAnEarlierVersion finds every record after the
// index file is marked as of an earlier version: 3, whose postings were
// all in one bucket, 4, whose postings were keyed by term numbers the
// "terms" bucket assigned, or 5, whose merges deleted the groups they
// moved. The file is rebuilt, not read.
func TestRebuildsAnIndexOfAnEarlierVersion(t *testing.T) {
	for _, version := range []int{3, 4, 5} {
		t.Run(strconv.Itoa(version), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log.jsonl")
			tr := openTrail(t, path, Options{})
			evs := []*audit.Event{event(acct, "alice", "Encrypt", "k1", time.Now()), event(acct, "bob", "Decrypt", "k2", time.Now())}
			tr.append(evs...)
			tr.close()
			markVersion(t, path+".index", version)

			tr.open()
			waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{})), idsOf(evs[1], evs[0])) })
			// The file's own state, not ix.st, which the indexer's
			// goroutine owns and may be writing.
			var stale *bbolt.Bucket
			var st state
			if err := tr.ix.db.View(func(tx *bbolt.Tx) error {
				stale = tx.Bucket([]byte("terms"))
				return json.Unmarshal(tx.Bucket(bucketMeta).Get(keyState), &st)
			}); err != nil {
				t.Fatal(err)
			}
			if stale != nil || st.Version != formatVersion {
				t.Errorf("the file of version %d was kept (version %d)", version, st.Version)
			}
		})
	}
}

// markVersion makes the index file at path look like one of version: its
// state says so, and it has the buckets that version had.
func markVersion(t *testing.T, path string, version int) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		var st state
		if err := json.Unmarshal(tx.Bucket(bucketMeta).Get(keyState), &st); err != nil {
			return err
		}
		st.Version = version
		if err := putState(tx, &st); err != nil {
			return err
		}
		if version < 4 {
			if err := tx.DeleteBucket(bucketRecent); err != nil {
				return err
			}
		}
		terms, err := tx.CreateBucketIfNotExists([]byte("terms"))
		if err != nil {
			return err
		}
		return terms.Put([]byte("left by an earlier version"), []byte{1})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}
