package audit

import (
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"
)

// slowSyncFile is a log file whose fsync takes a few milliseconds, as a
// real disk's does, so records queue up while a batch is being made
// durable.
type slowSyncFile struct{ *os.File }

func (f slowSyncFile) Sync() error {
	time.Sleep(5 * time.Millisecond)
	return f.File.Sync()
}

func openSlowSync(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f}, nil
}

// A batch whose announced callers are all in is committed at once, however
// long CommitDelay is: a few concurrent callers are not made slower than
// one by waiting for company that is not coming. They still share fsyncs.
func TestAnnouncedCallersCommitWhenAllArrived(t *testing.T) {
	const delay = 10 * time.Second
	l := openLog(t, logPath(t), Options{FailClosed: true, CommitDelay: delay, Timeout: time.Minute, OpenLogFile: openSlowSync})
	const callers, rounds = 4, 10
	begin := time.Now()
	for r := range rounds {
		var announced, done sync.WaitGroup
		announced.Add(callers)
		for c := range callers {
			done.Add(1)
			go func() {
				defer done.Done()
				l.Announce()
				announced.Done()
				announced.Wait() // every caller of the round is on its way
				if err := l.AppendAnnounced(testEvent(fmt.Sprint("r", r, "-c", c))); err != nil {
					t.Error(err)
				}
			}()
		}
		done.Wait()
	}
	if el := time.Since(begin); el >= delay {
		t.Fatalf("%d rounds of %d announced callers took %v: batches waited out the %v CommitDelay", rounds, callers, el, delay)
	}
	s := l.Stats()
	if s.Records != callers*rounds {
		t.Fatalf("%d records written, want %d", s.Records, callers*rounds)
	}
	// Each round's callers share one fsync.
	if s.Batches != rounds {
		t.Fatalf("%d records took %d fsyncs; want one a round of %d callers", s.Records, s.Batches, callers)
	}
	if n := l.coming.Load(); n != 0 {
		t.Fatalf("%d announced records still counted as coming", n)
	}
}

// While an announced record is still to come, a batch waits for it, but
// never past CommitDelay; once it is withdrawn, nothing waits for it.
func TestAnnouncedRecordHoldsTheBatchUpToCommitDelay(t *testing.T) {
	const delay = 3 * time.Second
	l := openLog(t, logPath(t), Options{FailClosed: true, CommitDelay: delay, Timeout: time.Minute})
	l.Announce() // a caller still working on its request
	begin := time.Now()
	if err := l.Append(testEvent("waits")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(begin); el < delay {
		t.Fatalf("Append returned after %v, before the announced record or the %v CommitDelay", el, delay)
	}
	l.Withdraw()
	begin = time.Now()
	if err := l.Append(testEvent("alone")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(begin); el >= delay {
		t.Fatalf("a lone Append took %v after the announcement was withdrawn", el)
	}
}

// Every way AppendAnnounced can return settles the announcement.
func TestAppendAnnouncedSettlesOnFailure(t *testing.T) {
	l := openLog(t, logPath(t), Options{FailClosed: true})
	l.Announce()
	if err := l.AppendAnnounced(nil); err == nil {
		t.Fatal("AppendAnnounced(nil) succeeded")
	}
	l.Announce()
	big := testEvent("too-big")
	big.RequestParameters = map[string]any{"policy": string(make([]byte, MaxRecordSize))}
	if err := l.AppendAnnounced(big); err == nil {
		t.Fatal("an oversized record was taken")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Announce()
	if err := l.AppendAnnounced(testEvent("after-close")); err == nil {
		t.Fatal("a closed log took a record")
	}
	if n := l.coming.Load(); n != 0 {
		t.Fatalf("%d announced records still counted as coming", n)
	}
}
