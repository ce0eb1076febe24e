package auditindex

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
)

// logFile reads records of the log at the locations the index gives,
// following the file at path when it is replaced (rotation).
type logFile struct {
	path string
	mu   sync.RWMutex
	f    *os.File // nil until first needed, or after close
}

// errGone says a record is no longer in the log file at path.
var errGone = errors.New("auditindex: record no longer in the log file")

// read returns the record with seq at loc: errGone if the file at path no
// longer holds it there.
func (l *logFile) read(seq uint64, loc location) (line, error) {
	for attempt := 0; ; attempt++ {
		ln, err := l.readOnce(seq, loc)
		if !errors.Is(err, errGone) || attempt > 0 {
			return ln, err
		}
		// Perhaps the file was replaced since it was opened.
		if reopened, rerr := l.reopen(); rerr != nil || !reopened {
			return ln, err
		}
	}
}

func (l *logFile) readOnce(seq uint64, loc location) (line, error) {
	l.mu.RLock()
	f := l.f
	if f == nil {
		l.mu.RUnlock()
		if _, err := l.reopen(); err != nil {
			return line{}, err
		}
		l.mu.RLock()
		if f = l.f; f == nil {
			l.mu.RUnlock()
			return line{}, errGone
		}
	}
	defer l.mu.RUnlock()
	buf := make([]byte, loc.length+1)
	if _, err := f.ReadAt(buf, loc.offset); err != nil {
		if errors.Is(err, io.EOF) {
			return line{}, errGone
		}
		return line{}, err
	}
	if buf[loc.length] != '\n' {
		return line{}, errGone
	}
	ln, err := parseLine(buf[:loc.length])
	if err != nil || ln.seq != seq {
		return line{}, errGone
	}
	return ln, nil
}

// reopen opens the file at path if it is not the one open, and reports
// whether it did.
func (l *logFile) reopen() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := os.Stat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if l.f != nil {
		if cur, err := l.f.Stat(); err == nil && os.SameFile(cur, st) {
			return false, nil
		}
	}
	f, err := os.Open(l.path)
	if err != nil {
		return false, err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f = f
	return true, nil
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
