package audit

import (
	"bufio"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// readDigests reads and checks the whole digests file: every line a digest
// signed by one of keys, numbered from 1 without a gap, each naming the
// hash and signature of the one before, their record ranges and time
// periods following on, and (if anchor is set) reaching the anchor's
// digest with the same hash. Problems are *VerifyErrors naming the line.
func readDigests(path string, keys []crypto.PublicKey, anchor *AnchorState) ([]signedDigest, error) {
	byFP := map[string]digestKey{}
	for _, pub := range keys {
		k, err := newDigestKey(pub)
		if err != nil {
			return nil, err
		}
		byFP[k.fingerprint] = k
	}
	bad := func(line int, format string, args ...any) error {
		return &VerifyError{Path: path, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad(0, "the signed digests file is missing: it was deleted, or the log was never signed (for a rotated-away log file, pass the current log's digests file)")
	}
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var digs []signedDigest
	for n := 1; ; n++ {
		line, complete, err := readLine(r)
		if err != nil {
			return nil, fmt.Errorf("audit: verify %s: %w", path, err)
		}
		if line == nil {
			break
		}
		if !complete {
			return nil, bad(n, "last digest is cut short (no newline): a torn write or a truncated file")
		}
		if len(line) > maxLine {
			return nil, bad(n, "line of %d bytes exceeds the %d-byte limit", len(line), maxLine)
		}
		sd, err := parseDigestLine(line)
		if err != nil {
			return nil, bad(n, "%v", err)
		}
		k, ok := byFP[sd.Fingerprint]
		if !ok {
			return nil, bad(n, "digest %d is signed by a key with fingerprint %s, which is not among the public keys given", sd.Seq, sd.Fingerprint)
		}
		if sd.Algorithm != k.alg || !k.verify(sd.body, sd.sig) {
			return nil, bad(n, "digest %d does not verify with its public key: it was altered or forged", sd.Seq)
		}
		if err := followsDigest(digs, &sd); err != nil {
			return nil, bad(n, "%v", err)
		}
		digs = append(digs, sd)
	}
	if anchor != nil && anchor.DigestSeq > 0 {
		if anchor.DigestSeq > uint64(len(digs)) {
			return nil, bad(len(digs)+1, "the digests end at digest %d but the anchor records digest %d: digests were removed from the end",
				len(digs), anchor.DigestSeq)
		}
		if d := digs[anchor.DigestSeq-1]; hexHash(d.hash) != anchor.DigestHash {
			return nil, bad(int(anchor.DigestSeq), "digest %d does not match the anchor's digest hash: it was replaced", d.Seq)
		}
	}
	return digs, nil
}

// followsDigest checks that sd continues the digest chain digs.
func followsDigest(digs []signedDigest, sd *signedDigest) error {
	if len(digs) == 0 {
		switch {
		case sd.Seq != 1:
			return fmt.Errorf("the digests start at digest %d, not 1: earlier digests are missing", sd.Seq)
		case sd.PrevHash != nil || sd.PrevSignature != nil:
			return errors.New("digest 1 names a previous digest")
		case sd.FirstSeq != 1:
			return fmt.Errorf("digest 1 covers records from seq %d, not from seq 1", sd.FirstSeq)
		}
	} else {
		p := &digs[len(digs)-1]
		switch {
		case sd.Seq != p.Seq+1:
			return fmt.Errorf("digest %d follows digest %d: a digest is missing, inserted or out of order", sd.Seq, p.Seq)
		case sd.PrevHash == nil || *sd.PrevHash != hexHash(p.hash):
			return fmt.Errorf("digest %d's previousDigestHash does not match digest %d: the digest chain is broken", sd.Seq, p.Seq)
		case sd.PrevSignature == nil || *sd.PrevSignature != hex.EncodeToString(p.sig):
			return fmt.Errorf("digest %d's previousDigestSignature does not match digest %d", sd.Seq, p.Seq)
		case sd.StartTime != p.EndTime:
			return fmt.Errorf("digest %d starts at %s, not where digest %d ended (%s)", sd.Seq, sd.StartTime, p.Seq, p.EndTime)
		case sd.FirstSeq != p.LastSeq+1:
			return fmt.Errorf("digest %d covers records from seq %d, not from seq %d", sd.Seq, sd.FirstSeq, p.LastSeq+1)
		case sd.FileFirstSeq < p.FileFirstSeq:
			return fmt.Errorf("digest %d says the log file starts at seq %d, before digest %d's seq %d", sd.Seq, sd.FileFirstSeq, p.Seq, p.FileFirstSeq)
		case sd.LastSeq == p.LastSeq && sd.chain != p.chain:
			return fmt.Errorf("digest %d's chainHash differs from digest %d's for the same seq %d", sd.Seq, p.Seq, sd.LastSeq)
		}
	}
	switch {
	case sd.EndTime < sd.StartTime:
		return fmt.Errorf("digest %d ends at %s, before it starts", sd.Seq, sd.EndTime)
	case sd.LastSeq+1 < sd.FirstSeq:
		return fmt.Errorf("digest %d ends at seq %d, before its first seq %d", sd.Seq, sd.LastSeq, sd.FirstSeq)
	case sd.FileFirstSeq == 0 || sd.FileFirstSeq > sd.LastSeq+1:
		return fmt.Errorf("digest %d has fileFirstSeq %d outside 1..%d", sd.Seq, sd.FileFirstSeq, sd.LastSeq+1)
	case sd.LastSeq == 0 && sd.chain != [hashSize]byte{}:
		return fmt.Errorf("digest %d covers no record but has a chainHash", sd.Seq)
	}
	return nil
}

// coverage checks a log file's records against the signed digests and the
// anchor while VerifyFile reads it.
type coverage struct {
	path      string
	digsPath  string
	digs      []signedDigest // ordered by LastSeq (digest order)
	i         int            // the first digest not yet matched
	first     uint64         // seq of the file's first record
	lastPin   int            // line of the last record a digest or the anchor pinned
	anchor    *AnchorState
	anchorSum [hashSize]byte
	rep       *Report
}

func (c *coverage) bad(line int, format string, args ...any) error {
	return &VerifyError{Path: c.path, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// record checks the record at line n, whose chain links are already known
// to be right, against every digest that ends at its seq.
func (c *coverage) record(n int, p *parsedLine) error {
	if n == 1 {
		c.first = p.seq
		for ; c.i < len(c.digs) && c.digs[c.i].LastSeq < p.seq; c.i++ {
			if d := &c.digs[c.i]; d.LastSeq == p.seq-1 && d.chain != p.prev {
				return c.bad(1, "first record's prev does not match signed digest %d (%s line %d): the log before it was changed",
					d.Seq, c.digsPath, d.Seq)
			}
		}
	}
	for ; c.i < len(c.digs) && c.digs[c.i].LastSeq == p.seq; c.i++ {
		d := &c.digs[c.i]
		if d.chain != p.hash {
			return c.bad(c.lastPin+1, "signed digest %d (%s line %d) does not match record seq %d at line %d: a record in lines %d to %d was changed and the chain recomputed",
				d.Seq, c.digsPath, d.Seq, p.seq, n, c.lastPin+1, n)
		}
		if d.FileFirstSeq < c.first {
			return c.bad(1, "file starts at seq %d but signed digest %d records that it started at seq %d: %s removed from the start",
				c.first, d.Seq, d.FileFirstSeq, seqRange(d.FileFirstSeq, c.first-1))
		}
		c.lastPin = n
		c.rep.SignedThrough = p.seq
	}
	if a := c.anchor; a != nil && a.LastSeq == p.seq {
		if p.hash != c.anchorSum {
			return c.bad(c.lastPin+1, "the anchor does not match record seq %d at line %d: a record in lines %d to %d was changed",
				p.seq, n, c.lastPin+1, n)
		}
		c.lastPin = n
		c.rep.Anchored = true
		c.rep.SignedThrough = max(c.rep.SignedThrough, p.seq)
	}
	return nil
}

// end checks, after the last of records records (last: its seq), that no
// digest or anchor expects more of this file.
func (c *coverage) end(records int, last uint64) error {
	if records == 0 {
		if len(c.digs) > 0 {
			if d := &c.digs[len(c.digs)-1]; d.FileFirstSeq <= d.LastSeq {
				return c.bad(1, "the log holds no records but signed digest %d records seq %d to %d in the current file: they were removed",
					d.Seq, d.FileFirstSeq, d.LastSeq)
			}
			c.rep.NextFileSeq = c.digs[len(c.digs)-1].FileFirstSeq
		}
		if a := c.anchor; a != nil && a.LastSeq > 0 && (c.rep.NextFileSeq == 0 || c.rep.NextFileSeq <= a.LastSeq) {
			return c.bad(1, "the log holds no records but the anchor records seq %d: the records were removed", a.LastSeq)
		}
		return nil
	}
	if c.i < len(c.digs) {
		d := &c.digs[c.i]
		if d.FileFirstSeq <= last {
			return c.bad(records+1, "log ends at seq %d but signed digest %d covers this file through seq %d: %s removed from the end",
				last, d.Seq, d.LastSeq, seqRange(last+1, d.LastSeq))
		}
		if d.FileFirstSeq > last+1 {
			return c.bad(records+1, "log ends at seq %d but signed digest %d says the next log file starts at seq %d: %s removed from the end (or in a log file rotated away in between)",
				last, d.Seq, d.FileFirstSeq, seqRange(last+1, d.FileFirstSeq-1))
		}
		c.rep.NextFileSeq = d.FileFirstSeq
	}
	if a := c.anchor; a != nil && a.LastSeq > last && (c.rep.NextFileSeq == 0 || c.rep.NextFileSeq > a.LastSeq) {
		return c.bad(records+1, "log ends at seq %d but the anchor records seq %d: records were removed from the end", last, a.LastSeq)
	}
	return nil
}
