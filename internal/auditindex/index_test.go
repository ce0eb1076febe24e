package auditindex

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/uuid"
)

const (
	acct   = "111122223333"
	other  = "444455556666"
	region = "us-east-1"
)

// trail is an audit log with its index, as kmsd runs them.
type trail struct {
	t    *testing.T
	path string
	log  *audit.Log
	ix   *Index
	opts Options
}

func openTrail(t *testing.T, path string, opts Options) *trail {
	t.Helper()
	tr := &trail{t: t, path: path, opts: opts}
	tr.open()
	t.Cleanup(tr.close)
	return tr
}

func (tr *trail) open() {
	tr.t.Helper()
	ix, err := Open(tr.path, tr.opts)
	if err != nil {
		tr.t.Fatal(err)
	}
	log, err := audit.OpenFile(tr.path, audit.Options{FailClosed: true, Durable: ix.Durable})
	if err != nil {
		ix.Close()
		tr.t.Fatal(err)
	}
	ix.Start()
	tr.ix, tr.log = ix, log
}

func (tr *trail) close() {
	if tr.log == nil {
		return
	}
	if err := tr.log.Close(); err != nil {
		tr.t.Error(err)
	}
	if err := tr.ix.Close(); err != nil {
		tr.t.Error(err)
	}
	tr.log, tr.ix = nil, nil
}

// event is a KMS call's record by a user of account on key.
func event(account, user, name, key string, at time.Time) *audit.Event {
	ev := &audit.Event{
		UserIdentity: audit.UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::" + account + ":user/" + user, AccountID: account,
			AccessKeyID: "AKIA" + user, UserName: user},
		EventTime: at, EventName: name, AWSRegion: region, RecipientAccountID: account,
		EventID: uuid.New(), ReadOnly: name == "Encrypt" || name == "DescribeKey",
	}
	if key != "" {
		ev.Resources = []audit.Resource{{AccountID: account, Type: "AWS::KMS::Key", ARN: "arn:aws:kms:" + region + ":" + account + ":key/" + key}}
	}
	return ev
}

func (tr *trail) append(evs ...*audit.Event) {
	tr.t.Helper()
	for _, ev := range evs {
		if err := tr.log.Append(ev); err != nil {
			tr.t.Fatal(err)
		}
	}
}

func (tr *trail) lookup(q Query) Page {
	tr.t.Helper()
	if q.Account == "" {
		q.Account, q.Region = acct, region
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	p, err := tr.ix.Lookup(context.Background(), q)
	if err != nil {
		tr.t.Fatal(err)
	}
	return p
}

func ids(p Page) []string {
	var out []string
	for _, ev := range p.Events {
		out = append(out, ev.EventID)
	}
	return out
}

func idsOf(evs ...*audit.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.EventID)
	}
	return out
}

// TestLookupByEachAttribute records calls of two users of two accounts and
// finds each set by every attribute, newest first, and only in its trail.
func TestLookupByEachAttribute(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "audit", "log.jsonl"), Options{})
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a1 := event(acct, "alice", "Encrypt", "k1", t0)
	a2 := event(acct, "alice", "ScheduleKeyDeletion", "k2", t0.Add(time.Second))
	b1 := event(acct, "bob", "Encrypt", "k1", t0.Add(2*time.Second))
	o1 := event(other, "alice", "Encrypt", "k1", t0.Add(3*time.Second))
	root := event(acct, "", "CreateKey", "k3", t0.Add(4*time.Second))
	root.UserIdentity = audit.UserIdentity{Type: "Root", ARN: "arn:aws:iam::" + acct + ":root", AccountID: acct, AccessKeyID: "AKIAROOT"}
	sess := event(acct, "", "DescribeKey", "", t0.Add(5*time.Second))
	sess.UserIdentity = audit.UserIdentity{Type: "AssumedRole", ARN: "arn:aws:sts::" + acct + ":assumed-role/App/worker-7", AccountID: acct, AccessKeyID: "ASIASESSION"}
	west := event(acct, "alice", "Encrypt", "k1", t0.Add(6*time.Second))
	west.AWSRegion = "us-west-2"
	tr.append(a1, a2, b1, o1, root, sess, west)

	for _, c := range []struct {
		attr  Attr
		value string
		want  []string
	}{
		{"", "", idsOf(sess, root, b1, a2, a1)},
		{EventName, "Encrypt", idsOf(b1, a1)},
		{EventSource, "kms.amazonaws.com", idsOf(sess, root, b1, a2, a1)},
		{ReadOnly, "true", idsOf(sess, b1, a1)},
		{ReadOnly, "false", idsOf(root, a2)},
		{Username, "alice", idsOf(a2, a1)},
		{Username, "root", idsOf(root)},
		{Username, "worker-7", idsOf(sess)},
		{AccessKeyID, "AKIAbob", idsOf(b1)},
		{ResourceType, "AWS::KMS::Key", idsOf(root, b1, a2, a1)},
		{ResourceName, "arn:aws:kms:us-east-1:" + acct + ":key/k1", idsOf(b1, a1)},
		{ResourceName, "arn:aws:kms:us-east-1:" + acct + ":key/none", nil},
		{EventID, a2.EventID, idsOf(a2)},
		{EventID, o1.EventID, nil}, // another account's event
		{EventName, "encrypt", nil},
	} {
		got := ids(tr.lookup(Query{Attr: c.attr, Value: c.value}))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s=%q: got %v, want %v", c.attr, c.value, got, c.want)
		}
	}
	if got := ids(tr.lookup(Query{Account: other, Region: region})); !slices.Equal(got, idsOf(o1)) {
		t.Errorf("other account: got %v", got)
	}
	if got := ids(tr.lookup(Query{Account: acct, Region: "us-west-2"})); !slices.Equal(got, idsOf(west)) {
		t.Errorf("us-west-2: got %v", got)
	}
	ev := tr.lookup(Query{Attr: EventID, Value: root.EventID}).Events[0]
	if ev.Username != "root" || ev.EventName != "CreateKey" || ev.ReadOnly || ev.AccessKeyID != "AKIAROOT" ||
		!ev.Time.Equal(root.EventTime) || len(ev.Resources) != 1 || ev.Resources[0].Type != "AWS::KMS::Key" {
		t.Errorf("event fields: %+v", ev)
	}
	if _, err := tr.ix.Lookup(context.Background(), Query{Account: acct, Region: region, Attr: "Colour", Value: "x", Limit: 5}); err != ErrUnknownAttr {
		t.Errorf("unknown attribute: %v", err)
	}
}

// TestPagesAndTimeRange pages through events three at a time within a
// time range, both ends included, and finds each event once.
func TestPagesAndTimeRange(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "log.jsonl"), Options{})
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var evs []*audit.Event
	for i := range 20 {
		// Two events a second, and one recorded out of time order.
		at := t0.Add(time.Duration(i/2) * time.Second)
		if i == 13 {
			at = t0.Add(2 * time.Second)
		}
		evs = append(evs, event(acct, "alice", "Encrypt", "k1", at))
	}
	tr.append(evs...)
	inRange := func(ev *audit.Event) bool {
		return !ev.EventTime.Before(t0.Add(2*time.Second)) && !ev.EventTime.After(t0.Add(7*time.Second))
	}
	var want []*audit.Event
	for _, ev := range evs {
		if inRange(ev) {
			want = append(want, ev)
		}
	}
	// Newest first; within a second, the later record first.
	slices.Reverse(want)
	slices.SortStableFunc(want, func(a, b *audit.Event) int { return b.EventTime.Compare(a.EventTime) })

	var got []string
	q := Query{Attr: ResourceName, Value: "arn:aws:kms:us-east-1:" + acct + ":key/k1",
		Start: t0.Add(1500 * time.Millisecond), End: t0.Add(7*time.Second + 999*time.Millisecond), Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p := tr.lookup(q)
		got = append(got, ids(p)...)
		if p.Next == nil {
			break
		}
		if len(p.Events) != 3 {
			t.Fatalf("a page with a next page holds %d events", len(p.Events))
		}
		q.After = p.Next
	}
	if !slices.Equal(got, idsOf(want...)) {
		t.Errorf("pages hold\n%v\nwant\n%v", got, idsOf(want...))
	}
}

// TestFindsARecordAsSoonAsItIsDurable checks read-your-writes: a lookup
// right after Append finds the record even though the indexer commits
// only once an hour on its own.
func TestFindsARecordAsSoonAsItIsDurable(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "log.jsonl"), Options{CommitInterval: time.Hour, FreshnessTimeout: time.Minute})
	for i := range 5 {
		ev := event(acct, "alice", "Encrypt", fmt.Sprint("k", i), time.Now())
		tr.append(ev)
		start := time.Now()
		if got := ids(tr.lookup(Query{Attr: EventID, Value: ev.EventID})); !slices.Equal(got, idsOf(ev)) {
			t.Fatalf("record %d not found: %v", i, got)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("lookup waited %v", d)
		}
	}
}

// TestSurvivesRestartAndCatchesUp closes the index, writes more records
// without it, and finds them all after a restart; then deletes the index
// file and finds them all again, rebuilt from the log.
func TestSurvivesRestartAndCatchesUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	tr := openTrail(t, path, Options{})
	t0 := time.Now().UTC().Truncate(time.Second)
	first := []*audit.Event{event(acct, "alice", "Encrypt", "k1", t0), event(acct, "alice", "Decrypt", "k1", t0)}
	tr.append(first...)
	tr.close()

	// Written while no index follows the log.
	log, err := audit.OpenFile(path, audit.Options{FailClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	more := event(acct, "alice", "Sign", "k1", t0.Add(time.Second))
	if err := log.Append(more); err != nil {
		t.Fatal(err)
	}
	log.Close()

	want := idsOf(more, first[1], first[0])
	tr.open()
	waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{Attr: Username, Value: "alice"})), want) })
	tr.close()

	if err := os.Remove(path + ".index"); err != nil {
		t.Fatal(err)
	}
	tr.open()
	waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{Attr: Username, Value: "alice"})), want) })
	if got := ids(tr.lookup(Query{Attr: EventID, Value: more.EventID})); !slices.Equal(got, idsOf(more)) {
		t.Errorf("rebuilt index: EventId lookup got %v", got)
	}
}

// TestRebuildsAnUnusableIndexFile replaces the index with garbage, and
// with a file left half loaded, and finds every record after each.
func TestRebuildsAnUnusableIndexFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	tr := openTrail(t, path, Options{})
	ev := event(acct, "alice", "Encrypt", "k1", time.Now())
	tr.append(ev)
	tr.close()

	if err := os.WriteFile(path+".index", []byte("not a bbolt file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.open()
	waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{})), idsOf(ev)) })
	tr.close()

	// As a crash during a bulk load leaves it.
	db, st, err := openDB(path + ".index")
	if err != nil {
		t.Fatal(err)
	}
	st.Synced = false
	if err := db.Update(func(tx *bbolt.Tx) error { return putState(tx, &st) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tr.open()
	waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{})), idsOf(ev)) })
}

// TestFollowsARotatedLog moves the log away while it runs: the records of
// the new file are found, and those of the file moved away no longer are.
func TestFollowsARotatedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	tr := openTrail(t, path, Options{})
	old := event(acct, "alice", "Encrypt", "k1", time.Now())
	tr.append(old)
	if got := ids(tr.lookup(Query{})); !slices.Equal(got, idsOf(old)) {
		t.Fatalf("before rotation: %v", got)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	fresh := []*audit.Event{event(acct, "alice", "Encrypt", "k1", time.Now()), event(acct, "bob", "Encrypt", "k1", time.Now())}
	tr.append(fresh...)
	if got := ids(tr.lookup(Query{Attr: ResourceName, Value: "arn:aws:kms:us-east-1:" + acct + ":key/k1"})); !slices.Equal(got, idsOf(fresh[1], fresh[0])) {
		t.Fatalf("after rotation: %v, want the new file's %v", got, idsOf(fresh[1], fresh[0]))
	}
	// And after a restart, too.
	tr.close()
	tr.open()
	if got := ids(tr.lookup(Query{})); !slices.Equal(got, idsOf(fresh[1], fresh[0])) {
		t.Fatalf("after restart: %v", got)
	}
}

// TestReadsTheLogWhenTheQueueOverflows gives the indexer no room to queue
// batches: it reads every record from the log instead.
func TestReadsTheLogWhenTheQueueOverflows(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "log.jsonl"), Options{MaxQueue: 1})
	var evs []*audit.Event
	for range 30 {
		evs = append(evs, event(acct, "alice", "Encrypt", "k1", time.Now()))
	}
	tr.append(evs...)
	got := ids(tr.lookup(Query{Attr: Username, Value: "alice"}))
	slices.Reverse(got)
	if !slices.Equal(got, idsOf(evs...)) {
		t.Fatalf("found %d of %d records", len(got), len(evs))
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}
