package audit

import (
	"bytes"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// durableBatch is one call of Options.Durable.
type durableBatch struct {
	first  uint64
	offset int64
	lines  []byte
}

// TestDurableReportsEveryBatchAsWritten checks the hook an index follows the
// log with: the batches it reports, laid at their offsets, are the file
// byte for byte, their seqs run on without a gap, and after the file is
// moved away (rotation) the offsets start again in the new file.
func TestDurableReportsEveryBatchAsWritten(t *testing.T) {
	path := logPath(t)
	var mu sync.Mutex
	var got []durableBatch
	l := openLog(t, path, Options{FailClosed: true, Durable: func(first uint64, offset int64, lines []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, durableBatch{first, offset, bytes.Clone(lines)})
	}})
	appendN(t, l, "a", 5)
	check := func(file []byte, batches []durableBatch, firstSeq uint64) {
		t.Helper()
		rebuilt := make([]byte, 0, len(file))
		next := firstSeq
		for _, b := range batches {
			if b.first != next || b.offset != int64(len(rebuilt)) {
				t.Fatalf("batch at seq %d offset %d, want seq %d offset %d", b.first, b.offset, next, len(rebuilt))
			}
			if !bytes.HasSuffix(b.lines, []byte("\n")) {
				t.Fatalf("batch at seq %d does not end a line", b.first)
			}
			rebuilt = append(rebuilt, b.lines...)
			next += uint64(bytes.Count(b.lines, []byte("\n")))
		}
		if !bytes.Equal(rebuilt, file) {
			t.Fatalf("reported batches differ from the file:\n%s\nwant\n%s", rebuilt, file)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	check(file, got, 1)
	before := len(got)
	mu.Unlock()

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "b", 3)
	file, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	check(file, got[before:], 6)
	mu.Unlock()
}

// TestDurableNotCalledForAFailedBatch checks that a batch whose write fails
// is never reported: an index must not show a record the log lost.
func TestDurableNotCalledForAFailedBatch(t *testing.T) {
	path := logPath(t)
	var calls int
	ff := faultyFile{failWrites: new(atomic.Int32)}
	ff.failWrites.Store(1)
	opts := Options{FailClosed: true, Durable: func(uint64, int64, []byte) { calls++ }}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, path, opts)
	if err := l.Append(testEvent("lost")); err == nil {
		t.Fatal("Append succeeded with a failing write")
	}
	if err := l.Append(testEvent("kept")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("Durable called %d times, want once (for the batch that was written)", calls)
	}
}
