package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Report summarizes a verified log file.
type Report struct {
	Records  int    // complete records in the file
	FirstSeq uint64 // seq of the first record (0 if none)
	LastSeq  uint64 // seq of the last record (0 if none)
	// FirstPrev is the hex prev of the first record: 64 zeros when the
	// chain starts in this file, otherwise the LastHash of the file before
	// it (a rotated-away file), which lets a caller link files.
	FirstPrev string
	LastHash  string // hex hash of the last record
	// Head reports whether <path>.head was found and checked against the
	// file. Without it a file's ends cannot be checked, only its inside.
	Head bool
}

// VerifyError locates the first problem VerifyFile found.
type VerifyError struct {
	Path   string
	Line   int // 1-based line number of the bad or missing record
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: %s line %d: %s", e.Path, e.Line, e.Reason)
}

// VerifyFile checks the log at path record by record: every line must be a
// complete JSON record whose kmsdChain hash is right, whose seq is one more
// than the previous line's and whose prev is the previous line's hash. The
// first line must start the chain (seq 1 after 32 zero bytes) unless the
// head file or the file's rotation says otherwise. If <path>.head exists,
// the file must start where it says and reach at least its last record
// with the same hash. The error is a *VerifyError naming the first bad line
// for any edited, deleted, inserted or reordered record, a torn or
// truncated tail, or a log shorter than its head file says; other errors
// are I/O errors.
func VerifyFile(path string) (Report, error) {
	var rep Report
	h, haveHead, err := readHead(path + headSuffix)
	if err != nil {
		return rep, &VerifyError{Path: path, Line: 0, Reason: err.Error()}
	}
	rep.Head = haveHead
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()

	bad := func(line int, format string, args ...any) error {
		return &VerifyError{Path: path, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var prev link
	n := 0
	for {
		line, complete, err := readLine(r)
		if err != nil {
			return rep, fmt.Errorf("audit: verify %s: %w", path, err)
		}
		if line == nil {
			break
		}
		n++
		if !complete {
			return rep, bad(n, "last line is cut short (no newline): a torn write or a truncated file")
		}
		if len(line) > maxLine {
			return rep, bad(n, "line of %d bytes exceeds the %d-byte limit", len(line), maxLine)
		}
		p, err := parseLine(line)
		if err != nil {
			return rep, bad(n, "%v", err)
		}
		if !json.Valid(line) {
			return rep, bad(n, "record is not valid JSON")
		}
		if !p.check() {
			return rep, bad(n, "record seq %d does not match its hash: it was edited", p.seq)
		}
		if n == 1 {
			rep.FirstSeq, rep.FirstPrev = p.seq, hexHash(p.prev)
			want, why := link{}, "a chain that starts in this file"
			if haveHead {
				want, why = h.start, "the head file"
			}
			if haveHead || p.seq == 1 {
				if p.seq != want.seq+1 {
					return rep, bad(n, "first record has seq %d but %s starts at seq %d: records were removed from the start",
						p.seq, why, want.seq+1)
				}
				if p.prev != want.hash {
					return rep, bad(n, "first record's prev does not match %s", why)
				}
			}
		} else {
			if p.seq != prev.seq+1 {
				return rep, bad(n, "seq %d follows seq %d: a record is missing, inserted or out of order", p.seq, prev.seq)
			}
			if p.prev != prev.hash {
				return rep, bad(n, "prev does not match the hash of line %d: the chain is broken", n-1)
			}
		}
		if haveHead && p.seq == h.last.seq && p.hash != h.last.hash {
			return rep, bad(n, "record seq %d does not match the head file's hash", p.seq)
		}
		prev = link{seq: p.seq, hash: p.hash}
		rep.Records, rep.LastSeq, rep.LastHash = n, p.seq, hexHash(p.hash)
	}
	if haveHead {
		end := h.start.seq
		if n > 0 {
			end = prev.seq
		}
		if end < h.last.seq {
			return rep, bad(n+1, "log ends at seq %d but the head file records seq %d: records were removed from the end",
				end, h.last.seq)
		}
	}
	return rep, nil
}

// readLine returns the next line without its newline, whether it had one,
// and nil at the end of input. Lines longer than maxLine are returned cut
// to maxLine+1 bytes (so the caller can reject them) after skipping the
// rest.
func readLine(r *bufio.Reader) (line []byte, complete bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line) <= maxLine {
			line = append(line, chunk[:min(len(chunk), maxLine+1-len(line))]...)
		}
		switch {
		case err == nil:
			if len(line) > 0 && line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			if line == nil {
				line = []byte{}
			}
			return line, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return line, false, nil
		default:
			return nil, false, err
		}
	}
}
