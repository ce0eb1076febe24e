package audit

import (
	"bufio"
	"crypto"
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
	// file. Without it (and without signed digests or an anchor) a file's
	// ends cannot be checked, only its inside.
	Head bool

	// Signed reports that the signed digests were checked with the public
	// keys given; Digests counts them.
	Signed  bool
	Digests int
	// SignedThrough is the last seq of this file that a signed digest or
	// the anchor pins (0 if none). Records after it are not covered by a
	// signature yet: a log is signed every digest interval and at close.
	SignedThrough uint64
	// Anchored reports that the anchor's record was found in this file.
	Anchored bool
	// NextFileSeq is, when the digests show that the log went on in a
	// newer file (rotation), the seq that file starts at; verify it too.
	NextFileSeq uint64
}

// VerifyOptions say what to check a log against beyond its own chain.
type VerifyOptions struct {
	// PublicKeys verify the signed digests; without any, only the
	// unsigned chain and the head file are checked, which anyone able to
	// write the log directory can recompute.
	PublicKeys []crypto.PublicKey
	// DigestsPath is the digests file (default DigestsPath(path)). A log
	// file rotated away has none of its own: pass the current log's.
	DigestsPath string
	// Anchor is a position saved outside the log directory (see Anchor).
	// Its record must be in the file with the same hash, or the digests
	// must show it lies in a newer file; with PublicKeys, the digests
	// must also reach its digest with the same hash.
	Anchor *AnchorState
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
	return Verify(path, VerifyOptions{})
}

// Verify checks the log at path as VerifyFile does and, with opts, against
// its signed digests and an anchor: every digest must verify and continue
// the digest chain; every record a digest ends at must have the digest's
// chain hash (which pins every record before it); the file must start and
// end where the digests and the anchor say. The error is a *VerifyError
// naming the file (the log or the digests file) and line of the first
// problem.
func Verify(path string, opts VerifyOptions) (Report, error) {
	var rep Report
	h, haveHead, err := readHead(path + headSuffix)
	if err != nil {
		return rep, &VerifyError{Path: path, Line: 0, Reason: err.Error()}
	}
	rep.Head = haveHead
	cov := coverage{path: path, anchor: opts.Anchor, rep: &rep}
	if a := opts.Anchor; a != nil {
		if err := a.check(); err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		_ = decodeHash(a.ChainHash, &cov.anchorSum)
	}
	if len(opts.PublicKeys) > 0 {
		cov.digsPath = opts.DigestsPath
		if cov.digsPath == "" {
			cov.digsPath = DigestsPath(path)
		}
		if cov.digs, err = readDigests(cov.digsPath, opts.PublicKeys, opts.Anchor); err != nil {
			return rep, err
		}
		rep.Signed, rep.Digests = true, len(cov.digs)
	}
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
			if p.seq > prev.seq+1 {
				return rep, bad(n, "seq %d follows seq %d: %s missing or out of order", p.seq, prev.seq, seqRange(prev.seq+1, p.seq-1))
			}
			if p.seq != prev.seq+1 {
				return rep, bad(n, "seq %d follows seq %d: a record is inserted or out of order", p.seq, prev.seq)
			}
			if p.prev != prev.hash {
				return rep, bad(n, "prev does not match the hash of line %d: the chain is broken", n-1)
			}
		}
		if haveHead && p.seq == h.last.seq && p.hash != h.last.hash {
			return rep, bad(n, "record seq %d does not match the head file's hash", p.seq)
		}
		if err := cov.record(n, &p); err != nil {
			return rep, err
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
	return rep, cov.end(n, prev.seq)
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

// seqRange names the records from seq a to b.
func seqRange(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("record %d is", a)
	}
	return fmt.Sprintf("records %d to %d are", a, b)
}
