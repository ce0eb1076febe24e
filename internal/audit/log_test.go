package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// logPath returns a log path in a fresh directory that OpenFile must create.
func logPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "audit", "kms.log")
}

func openLog(t *testing.T, path string, opts Options) *Log {
	t.Helper()
	l, err := OpenFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func testEvent(id string) *Event {
	return &Event{
		UserIdentity:      UserIdentity{Type: "IAMUser", ARN: "arn:aws:iam::111122223333:user/alice", AccountID: "111122223333"},
		EventName:         "Encrypt",
		AWSRegion:         "us-east-1",
		SourceIPAddress:   "127.0.0.1",
		UserAgent:         "test",
		RequestParameters: map[string]any{"keyId": "alias/test", "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
		RequestID:         id,
		ReadOnly:          true,
	}
}

func appendN(t *testing.T, l *Log, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := l.Append(testEvent(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// requestIDs reads every record of the file and returns its request IDs.
func requestIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", len(ids)+1, err)
		}
		ids = append(ids, ev.RequestID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func mustVerify(t *testing.T, path string) Report {
	t.Helper()
	rep, err := VerifyFile(path)
	if err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	return rep
}

func TestConcurrentAppend(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("FailClosed=%v", failClosed), func(t *testing.T) {
			const goroutines, each = 16, 500
			path := logPath(t)
			l := openLog(t, path, Options{FailClosed: failClosed, MaxBatch: 64, QueueSize: 128})
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						if err := l.Append(testEvent(fmt.Sprintf("g%d-%d", g, i))); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			rep := mustVerify(t, path)
			if rep.Records != goroutines*each || rep.LastSeq != goroutines*each || !rep.Head {
				t.Fatalf("report %+v, want %d records checked against the head file", rep, goroutines*each)
			}
			seen := map[string]int{}
			for _, id := range requestIDs(t, path) {
				seen[id]++
			}
			for g := range goroutines {
				for i := range each {
					if id := fmt.Sprintf("g%d-%d", g, i); seen[id] != 1 {
						t.Fatalf("record %s present %d times", id, seen[id])
					}
				}
			}
			st := l.Stats()
			if st.Records != goroutines*each || st.Failed != 0 || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
			t.Logf("%d records in %d batches", st.Records, st.Batches)
			checkMode(t, path, 0o600)
			checkMode(t, filepath.Dir(path), fs.ModeDir|0o700)
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestAppendFillsEvent(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 800, time.UTC)
	path := logPath(t)
	l := openLog(t, path, Options{Now: func() time.Time { return now }})
	ev := testEvent("r1")
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	if ev.EventID == "" || !ev.EventTime.Equal(now.Truncate(time.Second)) || ev.EventSource != EventSource || !ev.ManagementEvent {
		t.Errorf("event not filled: %+v", ev)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"eventTime":"2025-03-04T05:06:07Z"`)) || !bytes.Contains(b, []byte(`"kmsdChain":{"seq":1,"prev":"`+strings.Repeat("0", 64))) {
		t.Errorf("unexpected record %s", b)
	}
	if err := l.Append(testEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestCloseFlushesAndReopenContinues(t *testing.T) {
	path := logPath(t)
	// A long FlushInterval: only Close can have written the records.
	l := openLog(t, path, Options{FlushInterval: time.Hour, MaxBatch: 1000})
	appendN(t, l, "a", 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, path); rep.Records != 10 {
		t.Fatalf("after Close: %+v", rep)
	}

	l = openLog(t, path, Options{})
	appendN(t, l, "b", 7)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, path)
	if rep.Records != 17 || rep.FirstSeq != 1 || rep.LastSeq != 17 {
		t.Fatalf("after reopen: %+v", rep)
	}
}

func TestTornLastLineIsCutOnOpen(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{})
	appendN(t, l, "a", 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the next batch's write.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := `{"eventVersion":"1.11","userIdentity":{"ty`
	f.WriteString(torn)
	f.Close()
	var verr *VerifyError
	if _, err := VerifyFile(path); !errors.As(err, &verr) || verr.Line != 6 {
		t.Fatalf("VerifyFile on torn log = %v, want an error at line 6", err)
	}

	var logBuf bytes.Buffer
	l = openLog(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if got := l.Stats().TornBytes; got != int64(len(torn)) {
		t.Errorf("TornBytes = %d, want %d", got, len(torn))
	}
	if !strings.Contains(logBuf.String(), "torn") {
		t.Errorf("no warning logged: %q", logBuf.String())
	}
	appendN(t, l, "b", 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, path); rep.Records != 8 {
		t.Fatalf("%+v", rep)
	}
}

func TestOpenRefusesTruncatedTail(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{})
	appendN(t, l, "a", 5)
	l.Close()
	lines := readLines(t, path)
	writeLines(t, path, lines[:3])
	if _, err := OpenFile(path, Options{}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("OpenFile on a truncated log = %v, want a refusal", err)
	}
}

func TestRotation(t *testing.T) {
	for _, how := range []string{"rename", "delete", "logrotate-create"} {
		t.Run(how, func(t *testing.T) {
			path := logPath(t)
			l := openLog(t, path, Options{FailClosed: true})
			appendN(t, l, "a", 5)
			old := path + ".1"
			switch how {
			case "rename":
				if err := os.Rename(path, old); err != nil {
					t.Fatal(err)
				}
			case "delete":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case "logrotate-create":
				if err := os.Rename(path, old); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			appendN(t, l, "b", 4)
			if l.Stats().Reopened != 1 {
				t.Errorf("Reopened = %d, want 1", l.Stats().Reopened)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep := mustVerify(t, path)
			if rep.Records != 4 || rep.FirstSeq != 6 || rep.LastSeq != 9 || !rep.Head {
				t.Fatalf("new file: %+v", rep)
			}
			if ids := requestIDs(t, path); ids[0] != "b-0" {
				t.Errorf("new file starts with %s", ids[0])
			}
			if how == "delete" {
				return
			}
			oldRep := mustVerify(t, old)
			if oldRep.Records != 5 || oldRep.Head {
				t.Fatalf("old file: %+v", oldRep)
			}
			if rep.FirstPrev != oldRep.LastHash {
				t.Errorf("new file's first prev %s does not continue the old file's last hash %s", rep.FirstPrev, oldRep.LastHash)
			}
		})
	}
}

// faultyFile wraps a real file and fails or blocks its writes on demand.
type faultyFile struct {
	*os.File
	failWrites *atomic.Int32 // writes still to fail
	failSync   bool
	block      chan struct{} // if non-nil, Write waits for it to close
}

func (f *faultyFile) Write(b []byte) (int, error) {
	if f.block != nil {
		<-f.block
	}
	if f.failWrites.Load() > 0 {
		f.failWrites.Add(-1)
		// Half the bytes reach the file before the error.
		n, _ := f.File.Write(b[:len(b)/2])
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(b)
}

func (f *faultyFile) Sync() error {
	if f.failSync {
		return &fs.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

func faultyOpener(ff *faultyFile) func(string, int, fs.FileMode) (File, error) {
	return func(name string, flag int, perm fs.FileMode) (File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		ff.File = f
		return ff, nil
	}
}

func TestFailClosedReportsWriteErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		ff   faultyFile
		want error
	}{
		{"write ENOSPC", faultyFile{failWrites: new(atomic.Int32)}, syscall.ENOSPC},
		{"fsync EIO", faultyFile{failWrites: new(atomic.Int32), failSync: true}, syscall.EIO},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.ff.failWrites.Store(1 << 30)
			if c.ff.failSync {
				c.ff.failWrites.Store(0)
			}
			path := logPath(t)
			opts := Options{FailClosed: true}
			opts.OpenLogFile = faultyOpener(&c.ff)
			l := openLog(t, path, opts)
			err := l.Append(testEvent("r1"))
			if !errors.Is(err, c.want) {
				t.Fatalf("Append = %v, want %v", err, c.want)
			}
			if l.Stats().Failed == 0 {
				t.Error("failure not counted")
			}
			// The failed write was cut away: the file holds no partial record.
			if b, _ := os.ReadFile(path); len(b) != 0 {
				t.Errorf("file holds %d bytes after a failed write", len(b))
			}
		})
	}
}

func TestFailOpenRetriesWrites(t *testing.T) {
	ff := faultyFile{failWrites: new(atomic.Int32)}
	ff.failWrites.Store(2)
	path := logPath(t)
	opts := Options{}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, path, opts)
	appendN(t, l, "a", 5) // queued: FailClosed off does not wait
	// The retry timer, not Close, writes them.
	for deadline := time.Now().Add(5 * time.Second); l.Stats().Records < 5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("records not retried: %+v", l.Stats())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close = %v; the retry should have written everything", err)
	}
	if rep := mustVerify(t, path); rep.Records != 5 {
		t.Fatalf("%+v", rep)
	}
	if st := l.Stats(); st.Failed == 0 || st.Dropped != 0 || st.Records != 5 {
		t.Errorf("stats %+v", st)
	}

	// A failure that never ends is reported by Close.
	ff2 := faultyFile{failWrites: new(atomic.Int32)}
	ff2.failWrites.Store(1 << 30)
	opts.OpenLogFile = faultyOpener(&ff2)
	l2 := openLog(t, logPath(t), opts)
	appendN(t, l2, "b", 3)
	if err := l2.Close(); err == nil || !strings.Contains(err.Error(), "3 records could not be written") {
		t.Errorf("Close = %v, want a report of 3 unwritten records", err)
	}
}

func TestBlockedSinkTimesOut(t *testing.T) {
	ff := faultyFile{failWrites: new(atomic.Int32), block: make(chan struct{})}
	path := logPath(t)
	opts := Options{FailClosed: true, Timeout: 100 * time.Millisecond}
	opts.OpenLogFile = faultyOpener(&ff)
	l := openLog(t, path, opts)
	start := time.Now()
	err := l.Append(testEvent("r1"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Append on a blocked sink = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Append blocked %v", d)
	}

	// Without FailClosed, a full queue blocks Append only up to the timeout.
	opts = Options{QueueSize: 1, MaxBatch: 1, Timeout: 50 * time.Millisecond}
	ff2 := faultyFile{failWrites: new(atomic.Int32), block: make(chan struct{})}
	opts.OpenLogFile = faultyOpener(&ff2)
	l2 := openLog(t, logPath(t), opts)
	var got error
	for i := 0; i < 5 && got == nil; i++ {
		got = l2.Append(testEvent(fmt.Sprint(i)))
	}
	if !errors.Is(got, ErrTimeout) {
		t.Fatalf("Append on a full queue = %v, want ErrTimeout", got)
	}
	close(ff.block)
	close(ff2.block)
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, failClosed := range []bool{false, true} {
		b.Run(fmt.Sprintf("FailClosed=%v", failClosed), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "kms.log")
			l, err := OpenFile(path, Options{FailClosed: failClosed})
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(16) // many requests in flight, as on a server
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Append(testEvent("bench")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(l.Stats().Records)/float64(max(l.Stats().Batches, 1)), "records/batch")
		})
	}
}
