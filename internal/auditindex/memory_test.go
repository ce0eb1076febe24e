package auditindex

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// TestRecordsAnswerAsTheIndexDoes looks up the same events through the
// index and through Records (an ephemeral server's records in memory),
// page by page, for every attribute, time ranges and page sizes: the
// answers must be the same.
func TestRecordsAnswerAsTheIndexDoes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	tr := openTrail(t, path, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	users, keys, accounts, regions := []string{"alice", "bob", "carol"}, []string{"k1", "k2", "k3", ""}, []string{acct, other}, []string{region, "eu-west-1"}
	for range 120 {
		ev := event(accounts[rng.IntN(2)], users[rng.IntN(3)], []string{"Encrypt", "DescribeKey", "DisableKey"}[rng.IntN(3)],
			keys[rng.IntN(4)], t0.Add(time.Duration(rng.IntN(20))*time.Second))
		ev.AWSRegion = regions[rng.IntN(2)]
		tr.append(ev)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []line
	for _, b := range bytes.Split(bytes.TrimSuffix(file, []byte("\n")), []byte("\n")) {
		l, err := parseLine(b)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	recs := Records(func(yield func(uint64, []byte) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			if !yield(lines[i].seq, lines[i].body) {
				return
			}
		}
	})
	eventIDs := []string{}
	for _, ln := range lines[:3] {
		ev, _ := decodeEvent(ln.seq, ln.body)
		eventIDs = append(eventIDs, ev.EventID)
	}
	type sel struct {
		attr  Attr
		value string
	}
	sels := []sel{{"", ""}, {EventName, "Encrypt"}, {EventSource, "kms.amazonaws.com"}, {ReadOnly, "false"}, {Username, "bob"},
		{AccessKeyID, "AKIAcarol"}, {ResourceType, "AWS::KMS::Key"}, {ResourceName, "arn:aws:kms:us-east-1:" + acct + ":key/k2"},
		{EventID, eventIDs[0]}, {EventID, eventIDs[2]}, {Username, "nobody"}}
	pageAll := func(look func(context.Context, Query) (Page, error), q Query) []string {
		var out []string
		for range 200 {
			p, err := look(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range p.Events {
				out = append(out, fmt.Sprint(ev.Seq))
			}
			if p.Next == nil {
				return out
			}
			q.After = p.Next
		}
		t.Fatal("paging does not end")
		return nil
	}
	checked := 0
	for _, s := range sels {
		for _, account := range accounts {
			for _, limit := range []int{1, 7, 50} {
				for _, span := range [][2]time.Duration{{0, 0}, {3 * time.Second, 11*time.Second + 500*time.Millisecond}} {
					q := Query{Account: account, Region: region, Attr: s.attr, Value: s.value, Limit: limit}
					if span[1] != 0 {
						q.Start, q.End = t0.Add(span[0]), t0.Add(span[1])
					}
					want, got := pageAll(tr.ix.Lookup, q), pageAll(recs.Lookup, q)
					if !slices.Equal(got, want) {
						t.Errorf("%+v: records give %v, the index %v", q, got, want)
					}
					checked += len(want)
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d events compared; the queries find too little", checked)
	}
}

// TestHasAgreesWithTerms checks that Event.has finds an event by each
// term Event.terms lists, and by no other value of the attributes.
func TestHasAgreesWithTerms(t *testing.T) {
	attrs := []Attr{all, EventName, EventSource, ReadOnly, Username, AccessKeyID, ResourceType, ResourceName}
	checked := 0
	for _, body := range leanCorpus(t) {
		ev, err := decodeEvent(1, body)
		if err != nil {
			continue
		}
		terms := ev.terms()
		values := []string{"", "true", "false", "x", audit.EventSource}
		for _, tm := range terms {
			values = append(values, tm.value, tm.value+"x")
		}
		for _, a := range attrs {
			for _, v := range values {
				if got, want := ev.has(a, v), slices.Contains(terms, term{a, v}); got != want {
					t.Errorf("%s: has(%q, %q) = %v, terms %v", body, a, v, got, terms)
				}
			}
		}
		if ev.EventID != "" && (!ev.has(EventID, ev.EventID) || ev.has(EventID, ev.EventID+"x")) {
			t.Errorf("%s: not found by its event ID alone", body)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d events checked", checked)
	}
}
