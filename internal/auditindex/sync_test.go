package auditindex

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// crashChildEnv names the log a child process of TestKilledWithUnsyncedCommits
// indexes before it is killed.
const crashChildEnv = "AUDITINDEX_CRASH_CHILD_LOG"

// crashEvents are the records the child writes: the same on both sides.
func crashEvents() []*audit.Event {
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	var evs []*audit.Event
	for i := range 40 {
		user, name, key := "alice", "Encrypt", "k1"
		if i%3 == 0 {
			user, name, key = "bob", "Decrypt", "k2"
		}
		ev := event(acct, user, name, key, t0.Add(time.Duration(i)*time.Second))
		ev.EventID = "00000000-0000-4000-8000-" + strings.Repeat("0", 10) + string(rune('a'+i/26)) + string(rune('a'+i%26))
		evs = append(evs, ev)
	}
	return evs
}

// TestCrashChild is the process TestKilledWithUnsyncedCommits kills: it
// indexes the records without ever flushing the index, says so, and waits.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		return // run only as the child
	}
	tr := openTrail(t, path, Options{SyncInterval: time.Hour})
	evs := crashEvents()
	tr.append(evs...)
	if got := ids(tr.lookup(Query{})); len(got) != len(evs) {
		t.Fatalf("child indexed %d of %d records", len(got), len(evs))
	}
	os.Stdout.WriteString("indexed\n")
	time.Sleep(time.Minute)
}

// TestKilledWithUnsyncedCommits kills a process whose index holds commits
// made without fsync: the next Open sees the file was not flushed,
// rebuilds it from the log, and answers the same lookups.
func TestKilledWithUnsyncedCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "indexed" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("child ended before indexing")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not index in time")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(unsyncedPath(path + ".index")); err != nil {
		t.Fatalf("the killed process's index is not marked unsynced: %v", err)
	}

	var logged bytes.Buffer
	tr := openTrail(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	evs := crashEvents()
	want := idsOf(evs...)
	slices.Reverse(want)
	waitFor(t, func() bool { return slices.Equal(ids(tr.lookup(Query{Limit: 100})), want) })
	if !strings.Contains(logged.String(), errUnsynced.Error()) {
		t.Errorf("Open did not rebuild the unflushed index; log:\n%s", logged.String())
	}
	for _, c := range []struct {
		attr  Attr
		value string
		n     int
	}{{Username, "bob", 14}, {Username, "alice", 26}, {EventName, "Decrypt", 14},
		{ResourceName, "arn:aws:kms:" + region + ":" + acct + ":key/k1", 26}, {EventID, evs[7].EventID, 1}} {
		if got := tr.lookup(Query{Attr: c.attr, Value: c.value, Limit: 100}); len(got.Events) != c.n {
			t.Errorf("%s=%s: %d events, want %d", c.attr, c.value, len(got.Events), c.n)
		}
	}
}

// TestFlushesWhenIdleAndAtClose checks the marker goes once the index is
// flushed, on the timer and at Close, and that a flushed index is opened
// as it is, not rebuilt.
func TestFlushesWhenIdleAndAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	marker := unsyncedPath(path + ".index")
	tr := openTrail(t, path, Options{SyncInterval: 50 * time.Millisecond})
	tr.append(event(acct, "alice", "Encrypt", "k1", time.Now()))
	tr.lookup(Query{})
	waitFor(t, func() bool { _, err := os.Stat(marker); return errors.Is(err, fs.ErrNotExist) })

	tr.opts.SyncInterval = time.Hour
	tr.close()
	tr.open()
	ev := event(acct, "bob", "Encrypt", "k1", time.Now())
	tr.append(ev)
	tr.lookup(Query{})
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("unflushed commits not marked: %v", err)
	}
	tr.close()
	if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("marker left after Close: %v", err)
	}

	var logged bytes.Buffer
	tr.opts.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	tr.open()
	if tr.ix.st.LastSeq != 2 {
		t.Errorf("reopened index stands at seq %d, want 2", tr.ix.st.LastSeq)
	}
	if got := ids(tr.lookup(Query{Attr: Username, Value: "bob"})); !slices.Equal(got, idsOf(ev)) {
		t.Errorf("after reopening: %v", got)
	}
	if strings.Contains(logged.String(), "rebuilding") {
		t.Errorf("a flushed index was rebuilt:\n%s", logged.String())
	}
}
