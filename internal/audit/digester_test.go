package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestDigestEveryIntervalWhileOpen(t *testing.T) {
	s := newSignedTrail(t)
	opts := s.opts()
	opts.DigestInterval = 50 * time.Millisecond
	l := openLog(t, s.path, opts)
	start := time.Now()
	for i := range 20 {
		appendN(t, l, "a"+strconv.Itoa(i), 10)
	}
	waitFor(t, func() bool { return l.Stats().Digests >= 1 && mustVerifySigned(t, s).SignedThrough == 200 })
	// Signed by the writer at most once per interval, not per record or batch.
	if n, most := l.Stats().Digests, uint64(time.Since(start)/opts.DigestInterval)+1; n > most {
		t.Errorf("%d digests in %v, want at most %d", n, time.Since(start), most)
	}
	// The anchor is saved after the digest is durable: wait for it too.
	waitFor(t, func() bool {
		st, err := s.anchor.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return st.LastSeq == 200 && st.DigestSeq == l.Stats().Digests
	})
}

func mustVerifySigned(t *testing.T, s *signedTrail) Report {
	t.Helper()
	rep, err := Verify(s.path, s.verifyOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
	}
}

// As CloudTrail does, periods without records get digests too, so a quiet
// trail is told apart from a stopped one.
func TestDigestsForEmptyPeriods(t *testing.T) {
	s := newSignedTrail(t)
	synctest.Test(t, func(t *testing.T) {
		opts := s.opts()
		opts.DigestInterval, opts.DigestIdleInterval = time.Minute, time.Hour
		l, err := OpenFile(s.path, opts)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Hour + time.Second)
		if n := l.Stats().Digests; n != 3 {
			t.Errorf("%d digests after three idle hours, want 3", n)
		}
		appendN(t, l, "a", 2)
		time.Sleep(time.Minute + time.Second)
		if n := l.Stats().Digests; n != 4 {
			t.Errorf("%d digests a minute after records, want 4", n)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if n := l.Stats().Digests; n != 4 {
			t.Errorf("Close wrote a digest with nothing new: %d", n)
		}
	})
	rep := mustVerifySigned(t, s)
	if rep.Digests != 4 || rep.SignedThrough != 2 {
		t.Fatalf("%+v", rep)
	}
	ls := readLines(t, DigestsPath(s.path))
	if !bytes.Contains(ls[0], []byte(`"firstSeq":1,"lastSeq":0,`)) || !bytes.Contains(ls[0], []byte(`"oldestEventTime":null`)) ||
		!bytes.Contains(ls[3], []byte(`"firstSeq":1,"lastSeq":2,`)) || bytes.Contains(ls[3], []byte(`"oldestEventTime":null`)) {
		t.Errorf("digests:\n%s", bytes.Join(ls, nil))
	}
}

func TestOpenRefusesWhatTheDigestsOrAnchorContradict(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, s *signedTrail)
		anchor bool
		want   string
	}{
		{"tail cut, head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, readLines(t, s.path)[:4])
			os.Remove(s.path + headSuffix)
		}, false, "signed digest 2 covers records through seq 6"},
		{"log emptied, head deleted", func(t *testing.T, s *signedTrail) {
			writeLines(t, s.path, nil)
			os.Remove(s.path + headSuffix)
		}, false, "log ends at seq 0"},
		{"last record re-chained", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, s.path)
			ls[5] = bytes.Replace(ls[5], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
			rechain(t, s.path, ls)
		}, false, "does not match signed digest 2"},
		{"last digest altered", func(t *testing.T, s *signedTrail) {
			ls := readLines(t, DigestsPath(s.path))
			ls[1] = bytes.Replace(ls[1], []byte(`"firstSeq":4`), []byte(`"firstSeq":5`), 1)
			writeLines(t, DigestsPath(s.path), ls)
		}, false, "does not verify"},
		{"digests file deleted", func(t *testing.T, s *signedTrail) {
			os.Remove(DigestsPath(s.path))
		}, true, "signed digests were removed"},
		{"tail, last digest and head removed", func(t *testing.T, s *signedTrail) {
			writeLines(t, DigestsPath(s.path), readLines(t, DigestsPath(s.path))[:1])
			writeLines(t, s.path, readLines(t, s.path)[:3])
			os.Remove(s.path + headSuffix)
		}, true, "the audit anchor records seq 6"},
		{"everything in the log directory deleted", func(t *testing.T, s *signedTrail) {
			for _, p := range []string{s.path, s.path + headSuffix, DigestsPath(s.path), s.path + PublicKeySuffix} {
				os.Remove(p)
			}
		}, true, "the audit anchor records seq 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSignedTrail(t)
			s.session(t, "a", 3)
			s.session(t, "b", 3)
			c.tamper(t, s)
			opts := s.opts()
			if !c.anchor {
				opts.Anchor = nil
			}
			l, err := OpenFile(s.path, opts)
			if err == nil {
				l.Close()
				t.Fatal("OpenFile continued the log")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("OpenFile = %v, want it to say %q", err, c.want)
			}
		})
	}
	if _, err := OpenFile(logPath(t), Options{Anchor: FileAnchor{Path: "x"}}); err == nil {
		t.Error("OpenFile accepted an Anchor without a Signer")
	}
}

// failingAnchor is a FileAnchor whose Save fails while fail is set.
type failingAnchor struct {
	FileAnchor
	fail atomic.Bool
}

func (a *failingAnchor) Save(ctx context.Context, s AnchorState) error {
	if a.fail.Load() {
		return errors.New("store unavailable")
	}
	return a.FileAnchor.Save(ctx, s)
}

func TestHealthFollowsWrites(t *testing.T) {
	t.Run("record writes", func(t *testing.T) {
		ff := faultyFile{failWrites: new(atomic.Int32)}
		var logBuf syncBuffer
		opts := Options{FailClosed: true, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
		opts.OpenLogFile = faultyOpener(&ff)
		l := openLog(t, logPath(t), opts)
		if err := l.Health(); err != nil {
			t.Fatalf("fresh log: %v", err)
		}
		ff.failWrites.Store(1)
		if err := l.Append(testEvent("r1")); err == nil {
			t.Fatal("Append succeeded on a failing disk")
		}
		if err := l.Health(); err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Errorf("Health after a failed write = %v", err)
		}
		if !strings.Contains(logBuf.String(), "audit write failed") {
			t.Errorf("failure not logged: %s", logBuf.String())
		}
		appendN(t, l, "ok", 1)
		if err := l.Health(); err != nil {
			t.Errorf("Health after a good write = %v", err)
		}
	})
	t.Run("anchor saves", func(t *testing.T) {
		s := newSignedTrail(t)
		a := &failingAnchor{FileAnchor: s.anchor}
		a.fail.Store(true)
		var logBuf syncBuffer
		opts := Options{Signer: s.key, Anchor: a, DigestInterval: 20 * time.Millisecond, FailClosed: true,
			Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
		l := openLog(t, s.path, opts)
		appendN(t, l, "a", 1)
		waitFor(t, func() bool { return l.Stats().AnchorFailed > 0 })
		if err := l.Health(); err == nil || !strings.Contains(err.Error(), "store unavailable") {
			t.Errorf("Health with a failing anchor = %v", err)
		}
		if !strings.Contains(logBuf.String(), "audit anchor save failed") {
			t.Errorf("failure not logged: %s", logBuf.String())
		}
		a.fail.Store(false)
		appendN(t, l, "b", 1)
		waitFor(t, func() bool { return l.Health() == nil })
	})
	t.Run("digest writes", func(t *testing.T) {
		s := newSignedTrail(t)
		opts := s.opts()
		opts.DigestInterval = 20 * time.Millisecond
		l := openLog(t, s.path, opts)
		// Something unwritable where the digests file was.
		os.Remove(DigestsPath(s.path))
		if err := os.Mkdir(DigestsPath(s.path), 0o700); err != nil {
			t.Fatal(err)
		}
		appendN(t, l, "a", 1)
		waitFor(t, func() bool { return l.Stats().DigestFailed > 0 })
		if err := l.Health(); err == nil || !strings.Contains(err.Error(), "signed digest") {
			t.Errorf("Health with an unwritable digests file = %v", err)
		}
		os.Remove(DigestsPath(s.path))
		waitFor(t, func() bool { return l.Health() == nil })
	})
}

func TestDroppedRecordsAreCountedAndLogged(t *testing.T) {
	var logBuf syncBuffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))

	l := openLog(t, logPath(t), Options{Logger: logger})
	l.Close()
	if err := l.Append(testEvent("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if l.Stats().Dropped != 1 || !strings.Contains(logBuf.String(), "audit record dropped") {
		t.Errorf("drop after Close: %+v, log %q", l.Stats(), logBuf.String())
	}

	// A full queue: the record is refused, counted and logged at once.
	ff := faultyFile{failWrites: new(atomic.Int32), block: make(chan struct{})}
	defer close(ff.block)
	opts := Options{QueueSize: 1, MaxBatch: 1, Timeout: 20 * time.Millisecond, Logger: logger}
	opts.OpenLogFile = faultyOpener(&ff)
	l2 := openLog(t, logPath(t), opts)
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		err = l2.Append(testEvent("q" + strconv.Itoa(i)))
	}
	if !errors.Is(err, ErrTimeout) || l2.Stats().Dropped != 1 || !strings.Contains(logBuf.String(), "audit queue full") {
		t.Errorf("full queue: %v, %+v, log %q", err, l2.Stats(), logBuf.String())
	}

	// FailClosed without durability in time: counted and logged.
	ff3 := faultyFile{failWrites: new(atomic.Int32), block: make(chan struct{})}
	defer close(ff3.block)
	opts = Options{FailClosed: true, Timeout: 20 * time.Millisecond, Logger: logger}
	opts.OpenLogFile = faultyOpener(&ff3)
	l3 := openLog(t, logPath(t), opts)
	if err := l3.Append(testEvent("slow")); !errors.Is(err, ErrTimeout) || l3.Stats().TimedOut != 1 ||
		!strings.Contains(logBuf.String(), "not durable in time") {
		t.Errorf("durability timeout: %v, %+v, log %q", err, l3.Stats(), logBuf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A log rotated away just before Close leaves an empty current file that
// verifies, and that the next start continues.
func TestRotatedThenClosedVerifiesAndContinues(t *testing.T) {
	s := newSignedTrail(t)
	l := openLog(t, s.path, s.opts())
	appendN(t, l, "a", 3)
	rotated := s.path + ".1"
	if err := os.Rename(s.path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerifySigned(t, s)
	if rep.Records != 0 || rep.NextFileSeq != 4 {
		t.Fatalf("empty current file: %+v", rep)
	}
	s.session(t, "b", 2)
	if rep := mustVerifySigned(t, s); rep.FirstSeq != 4 || rep.SignedThrough != 5 {
		t.Fatalf("after restart: %+v", rep)
	}
	opts := s.verifyOpts(t)
	opts.DigestsPath = DigestsPath(s.path)
	if old, err := Verify(rotated, opts); err != nil || old.LastSeq != 3 || old.NextFileSeq != 4 {
		t.Fatalf("rotated file: %+v, %v", old, err)
	}
}
