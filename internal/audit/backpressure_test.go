package audit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A full queue makes Append wait for room instead of failing, and the wait
// and the queue's high-water mark show in Stats, so the queue can be sized
// from a measurement.
func TestFullQueueWaitsAndIsMeasured(t *testing.T) {
	ff := faultyFile{failWrites: new(atomic.Int32), block: make(chan struct{})}
	opts := Options{QueueSize: 2, MaxBatch: 1, Timeout: 10 * time.Second}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, logPath(t), opts)
	const callers = 8
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.Append(testEvent(fmt.Sprint("r", i)))
		}()
	}
	// The writer holds one record in a blocked write, the queue two more;
	// the rest wait for room.
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Queued < callers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(ff.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Append behind a slow write: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Records != callers || s.Dropped != 0 {
		t.Fatalf("%d records written, %d dropped; want %d and 0", s.Records, s.Dropped, callers)
	}
	if s.QueueHigh != callers || s.Waited < callers-3 || s.WaitTime < 40*time.Millisecond*time.Duration(s.Waited) {
		t.Fatalf("QueueHigh %d Waited %d WaitTime %v; want %d, at least %d, at least 40ms each", s.QueueHigh, s.Waited, s.WaitTime, callers, callers-3)
	}
}
