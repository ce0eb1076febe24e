package bolt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/storetest"
	"go.etcd.io/bbolt"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "kmsd.db")
		return func() (store.Store, error) { return Open(path) }
	})
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	path := filepath.Join(dir, "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for p, want := range map[string]os.FileMode{
		filepath.Dir(dir): 0o700 | os.ModeDir,
		dir:               0o700 | os.ModeDir,
		path:              0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}

	// flock conflicts between open files even within one process, so this
	// stands in for a second kmsd process.
	start := time.Now()
	_, err = open(path, 100*time.Millisecond, false)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("data file %s is locked by another kmsd process", path); err.Error() != want {
		t.Errorf("second open: %q, want %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second open took %v to give up", d)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = open(path, 100*time.Millisecond, false)
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	s.Close()
}

func TestOpenNotABoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsd.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not bolt"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open of a non-bbolt file succeeded")
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestTxUsedAfterEnd(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var leaked store.Tx
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		leaked = tx
		return tx.Put([]byte("b"), []byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get([]byte("b"), []byte("k")); !errors.Is(err, errTxEnded) {
		t.Errorf("Get on an ended tx: %v", err)
	}
	if err := leaked.Put([]byte("b"), []byte("k"), nil); !errors.Is(err, errTxEnded) {
		t.Errorf("Put on an ended tx: %v", err)
	}
	if err := leaked.Delete([]byte("b"), []byte("k")); !errors.Is(err, errTxEnded) {
		t.Errorf("Delete on an ended tx: %v", err)
	}
	if _, err := leaked.Scan([]byte("b"), nil, nil, 0); !errors.Is(err, errTxEnded) {
		t.Errorf("Scan on an ended tx: %v", err)
	}
}

func TestUseAfterClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	nop := func(store.Tx) error { return nil }
	if err := s.Update(t.Context(), nop); err == nil {
		t.Error("Update after Close succeeded")
	}
	if err := s.View(t.Context(), nop); err == nil {
		t.Error("View after Close succeeded")
	}
}

// crashChildEnv, when set, makes TestCrashRecovery act as the child that
// gets killed; its value is the data file path.
const crashChildEnv = "KMSD_BOLT_CRASH_CHILD"

// TestCrashRecovery kills a writing process at an arbitrary point, several
// times over the same file, and checks that every Update it acknowledged is
// on disk, that no Update is half applied, and that bbolt finds the file
// consistent without any repair step.
func TestCrashRecovery(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}

	path := filepath.Join(t.TempDir(), "kmsd.db")
	for iter := range 3 {
		acked := runAndKill(t, path)
		if len(acked) == 0 {
			t.Fatalf("iteration %d: the child acknowledged nothing", iter)
		}
		n := verifyAfterCrash(t, path, acked)
		t.Logf("iteration %d: %d acknowledged, %d rows on disk", iter, len(acked), n)
	}
}

// runAndKill starts the child, kills it with SIGKILL about 200 ms after its
// first acknowledged Update, and returns the sequence numbers it
// acknowledged.
func runAndKill(t *testing.T, path string) []uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var acked []uint64
	first := make(chan struct{})
	eof := make(chan error, 1)
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line without its newline was cut by the kill and
				// acknowledges nothing.
				if err == io.EOF {
					err = nil
				}
				eof <- err
				return
			}
			seq, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ack ")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(seq, 10, 64)
			if err != nil {
				eof <- fmt.Errorf("bad ack line %q", line)
				return
			}
			if len(acked) == 0 {
				close(first)
			}
			acked = append(acked, n)
		}
	}()

	select {
	case <-first:
		time.Sleep(200 * time.Millisecond)
	case <-eof:
		_ = cmd.Wait()
		t.Fatalf("child exited before acknowledging anything:\n%s", stderr.Bytes())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child acknowledged nothing in 30s:\n%s", stderr.Bytes())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-eof; err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || cmd.ProcessState.Exited() {
		t.Fatalf("child exited on its own (%v) instead of being killed:\n%s", err, stderr.Bytes())
	}
	return acked
}

// verifyAfterCrash reopens the file and checks it against the acknowledged
// sequence numbers. It returns the number of rows found.
func verifyAfterCrash(t *testing.T, path string, acked []uint64) uint64 {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()

	if err := s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("consistency check: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var count uint64
	err = s.View(t.Context(), func(tx store.Tx) error {
		v, err := tx.Get([]byte("meta"), []byte("count"))
		if err != nil {
			return fmt.Errorf("count: %w", err)
		}
		count = binary.BigEndian.Uint64(v)
		rows, err := tx.Scan([]byte("rows"), nil, nil, 0)
		if err != nil {
			return err
		}
		// The count and its row are written in one Update: a mismatch
		// means a half-applied transaction.
		if uint64(len(rows)) != count {
			return fmt.Errorf("%d rows but count %d", len(rows), count)
		}
		for i, kv := range rows {
			if want := rowKey(uint64(i)); !bytes.Equal(kv.Key, want) {
				return fmt.Errorf("row %d has key %x, want %x", i, kv.Key, want)
			}
			if !bytes.Equal(kv.Value, rowValue(uint64(i))) {
				return fmt.Errorf("row %d has a wrong value", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after crash: %v", err)
	}
	for _, seq := range acked {
		if seq >= count {
			t.Errorf("acknowledged Update %d is lost: count is %d", seq, count)
		}
	}
	return count
}

// crashChild appends rows to the store until it is killed, printing
// "ack <seq>" once each Update has returned. It never returns.
func crashChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	s, err := Open(path)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var next uint64
	err = s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("meta"), []byte("count"))
		if err == nil {
			next = binary.BigEndian.Uint64(v)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		fail(err)
	}

	// Bound the child's life in case the parent dies without killing it.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); next++ {
		seq := next
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put([]byte("rows"), rowKey(seq), rowValue(seq)); err != nil {
				return err
			}
			// Overwrite a rotating set of keys so commits also free and
			// reuse pages.
			churn := binary.BigEndian.AppendUint64(nil, seq%32)
			if err := tx.Put([]byte("churn"), churn, rowValue(seq)); err != nil {
				return err
			}
			return tx.Put([]byte("meta"), []byte("count"), binary.BigEndian.AppendUint64(nil, seq+1))
		})
		if err != nil {
			fail(err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", seq); err != nil {
			fail(err)
		}
	}
	fail(errors.New("not killed within a minute"))
}

func rowKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// rowValue varies in size up to several pages, so commits split pages and
// use overflow pages.
func rowValue(seq uint64) []byte {
	return bytes.Repeat(binary.BigEndian.AppendUint64(nil, seq), 1+int(seq%1500))
}
