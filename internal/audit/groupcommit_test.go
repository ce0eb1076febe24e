package audit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitUnderConcurrentCallers: with callers waiting for
// durability, concurrent callers share fsyncs (CommitDelay gathers them),
// while a lone caller gets a batch of its own and never waits for company.
func TestGroupCommitUnderConcurrentCallers(t *testing.T) {
	l := openLog(t, logPath(t), Options{FailClosed: true, CommitDelay: 20 * time.Millisecond})
	for i := range 5 {
		if err := l.Append(testEvent(fmt.Sprint("alone-", i))); err != nil {
			t.Fatal(err)
		}
	}
	if s := l.Stats(); s.Batches != 5 || s.Records != 5 {
		t.Fatalf("sequential callers: %d records in %d batches, want one batch each", s.Records, s.Batches)
	}

	const callers, rounds = 32, 20
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := l.Append(testEvent(fmt.Sprint("c", c, "-", r))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := l.Stats()
	records, batches := s.Records-5, s.Batches-5
	if records != callers*rounds {
		t.Fatalf("%d records written, want %d", records, callers*rounds)
	}
	// Each fsync answers many of the 32 callers, not one or two.
	if batches*8 > records {
		t.Fatalf("%d concurrent records took %d fsyncs; want each shared by 8 callers or more", records, batches)
	}
	t.Logf("%d records in %d batches", records, batches)
}
