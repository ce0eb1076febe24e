package bolt

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
)

// ErrCorrupt is wrapped by every *CorruptError.
var ErrCorrupt = errors.New("the data file is damaged")

// CorruptError reports a data file that is not an intact store: truncated,
// overwritten, emptied, or failing bbolt's consistency check.
type CorruptError struct {
	Path    string
	Problem string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("data file %s is damaged: %s", e.Path, e.Problem)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// openDataFile opens the file bbolt asks for, locks it as bbolt will, and
// refuses it if it is not an intact store. A file this call creates is
// empty and bbolt initializes it; an existing empty file is refused, since
// kmsd never leaves its store empty: it was truncated, and treating it as
// new would start a server without its keys.
func openDataFile(name string, flag int, perm os.FileMode, exclusive bool, timeout time.Duration) (*os.File, string, error) {
	existed := true
	var f *os.File
	var err error
	if flag&os.O_CREATE != 0 {
		// Whether this call made the file decides what an empty one means.
		if f, err = os.OpenFile(name, flag|os.O_EXCL, perm); err == nil {
			existed = false
		}
	}
	if f == nil && (err == nil || errors.Is(err, os.ErrExist)) {
		f, err = os.OpenFile(name, flag, perm)
	}
	if err != nil {
		return nil, "", err
	}
	note, err := checkDataFile(f, existed, exclusive, timeout)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return f, note, nil
}

func checkDataFile(f *os.File, existed, exclusive bool, timeout time.Duration) (string, error) {
	if err := lockFile(f, exclusive, timeout); err != nil {
		return "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() == 0 {
		if existed {
			return "", &CorruptError{Path: f.Name(), Problem: "it is empty (0 bytes), and kmsd never leaves its store empty: it was truncated (or the very first start was cut short; then delete it)"}
		}
		return "", nil
	}
	note, err := preflight(f, fi.Size())
	if err != nil {
		return "", &CorruptError{Path: f.Name(), Problem: err.Error()}
	}
	return note, nil
}

// safeOpen is bbolt.Open that turns a panic or a memory fault while bbolt
// reads a damaged file into a *CorruptError. preflight keeps faults out,
// so this is the second line, for damage it did not foresee; a file and
// lock bbolt held when it panicked stay open until the process exits.
func safeOpen(path string, opts *bbolt.Options) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &CorruptError{Path: path, Problem: fmt.Sprintf("bbolt could not read it: %v", r)}
		}
	}()
	return bbolt.Open(path, 0o600, opts)
}

// Lock takes the lock a running kmsd holds on the data file at path,
// without reading the file, so that a damaged file can be replaced while
// no server can open it. It fails with ErrLocked while a server has the
// file open. A missing file needs no lock: unlock then does nothing.
func Lock(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, err
	}
	if err := lockFile(f, true, lockTimeout); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("data file %s is %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock data file %s: %w", path, err)
	}
	return f.Close, nil
}
