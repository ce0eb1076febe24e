package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// bbolt's read-only mode takes a shared flock, which the exclusive flock of
// a writer (a running kmsd) excludes: a second process cannot read the file
// while the server runs, so an online backup has to come from the server.
// Two readers share the file once the writer has gone.
func TestReadOnlyOpenWaitsForTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// flock conflicts between open files even within one process.
	_, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("bbolt read-only open beside a writer = %v, want ErrTimeout", err)
	}
	if _, err := OpenReadOnly(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenReadOnly beside a writer = %v, want ErrLocked", err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock beside a writer = %v, want ErrLocked", err)
	}
	s.Close()

	r1, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	defer r2.Close()
	if err := r1.Update(t.Context(), func(tx store.Tx) error { return tx.Put([]byte("b"), []byte("k"), nil) }); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
	if _, err := open(path, 100*time.Millisecond, false); !errors.Is(err, ErrLocked) {
		t.Errorf("writer beside readers = %v, want ErrLocked", err)
	}
}

// Lock keeps a server out while a damaged file is replaced, without
// reading the file.
func TestLockKeepsWritersOut(t *testing.T) {
	path := writeFile(t, []byte("not a store at all"))
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(path, 100*time.Millisecond, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a locked file = %v, want ErrLocked", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open after unlock = %v, want ErrCorrupt", err)
	}
	unlock, err = Lock(filepath.Join(t.TempDir(), "missing.db"))
	if err != nil || unlock() != nil {
		t.Fatalf("Lock of a missing file: %v", err)
	}
}

// TestBackupIsConsistentWhileWriting takes backups while a writer changes
// two records together and grows the file: every backup opens, passes
// bbolt's check, holds both records at the same value and every write
// acknowledged before it began. Each backup waits for a commit since the
// previous one, and backups go on until three had commits land while they
// ran.
func TestBackupIsConsistentWhileWriting(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var committed atomic.Int64 // the last write acknowledged
	committed.Store(-1)
	commits := make(chan struct{}, 1) // a token after each acknowledged write
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := s.Update(ctx, func(tx store.Tx) error {
				v := []byte(strconv.Itoa(i))
				if err := tx.Put([]byte("pair"), []byte("a"), v); err != nil {
					return err
				}
				if err := tx.Put([]byte("grow"), fmt.Appendf(nil, "%08d", i), bytes.Repeat([]byte{'x'}, 500)); err != nil {
					return err
				}
				return tx.Put([]byte("pair"), []byte("b"), v)
			})
			if err != nil {
				t.Error(err)
				return
			}
			committed.Store(int64(i))
			select {
			case commits <- struct{}{}:
			default:
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	const minBackups, minOverlapped = 10, 3
	overlapped := 0
	deadline := time.After(time.Minute)
	for i := 0; i < minBackups || overlapped < minOverlapped; i++ {
		select {
		case <-commits: // from before the last backup ended
		default:
		}
		select {
		case <-commits:
		case <-deadline:
			t.Fatalf("gave up after a minute and %d backups, %d of them with commits while they ran", i, overlapped)
		}
		var buf bytes.Buffer
		var size int64
		before := committed.Load()
		n, err := s.Backup(ctx, func(sz int64) (io.Writer, error) { size = sz; return &buf, nil })
		if committed.Load() > before {
			overlapped++
		}
		if err != nil || n != size || int64(buf.Len()) != size {
			t.Fatalf("backup %d: %d bytes of %d (buffer %d): %v", i, n, size, buf.Len(), err)
		}
		b, err := OpenReadOnly(writeFile(t, buf.Bytes()))
		if err != nil {
			t.Fatalf("backup %d does not open: %v", i, err)
		}
		if err := b.Check(ctx); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		err = b.View(ctx, func(tx store.Tx) error {
			a, err1 := tx.Get([]byte("pair"), []byte("a"))
			bv, err2 := tx.Get([]byte("pair"), []byte("b"))
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if !bytes.Equal(a, bv) {
				return fmt.Errorf("a=%s b=%s: the backup caught a transaction half done", a, bv)
			}
			if got, err := strconv.ParseInt(string(a), 10, 64); err != nil || got < before {
				return fmt.Errorf("a=%s, but write %d was acknowledged before the backup began", a, before)
			}
			return nil
		})
		b.Close()
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
	}
	t.Logf("%d of the backups had commits land while they ran", overlapped)
}

func TestBackupStopsWhenTheCallerGoes(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Backup(ctx, func(int64) (io.Writer, error) { return io.Discard, nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup after cancel = %v", err)
	}
}
