package audit

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// digester is the writer goroutine's signed-digest state.
type digester struct {
	signer crypto.Signer
	key    digestKey
	anchor Anchor
	path   string // <log>.digests

	f    *os.File
	fi   fs.FileInfo
	size int64

	last        *signedDigest // newest digest written, nil before the first
	periodStart string        // digestStartTime of the next digest
	attempted   time.Time     // when the last digest was written or tried
	interval    time.Duration
	idle        time.Duration

	// oldest and newest eventTime of the records since the last digest.
	oldest, newest time.Time
}

// due is when the next digest is due, given the seq of the last durable
// record: DigestInterval after the last one while records arrive,
// DigestIdleInterval otherwise.
func (d *digester) due(lastSeq uint64) time.Time {
	if lastSeq > d.lastSeq() {
		return d.attempted.Add(d.interval)
	}
	return d.attempted.Add(d.idle)
}

// lastSeq is the last record seq the newest digest covers.
func (d *digester) lastSeq() uint64 {
	if d.last == nil {
		return 0
	}
	return d.last.LastSeq
}

// note widens the event time range of the next digest by ps's records.
func (d *digester) note(ps []*pending) {
	for _, p := range ps {
		if d.oldest.IsZero() || p.at.Before(d.oldest) {
			d.oldest = p.at
		}
		if p.at.After(d.newest) {
			d.newest = p.at
		}
	}
}

// openDigests opens (creating it) the digests file beside the log, finds
// the newest digest and refuses to continue a log or digests file that
// ends before what the newest digest or the anchor records. w.recover has
// already found the log's end.
func (w *writer) openDigests(ctx context.Context) error {
	l := w.log
	key, err := newDigestKey(l.opts.Signer.Public())
	if err != nil {
		return err
	}
	d := &digester{
		signer: l.opts.Signer, key: key, anchor: l.opts.Anchor, path: DigestsPath(w.path),
		interval: l.opts.DigestInterval, idle: l.opts.DigestIdleInterval, attempted: time.Now(),
	}
	var anchor AnchorState
	if d.anchor != nil {
		if anchor, err = d.anchor.Load(ctx); err != nil {
			return fmt.Errorf("load the audit anchor: %w", err)
		}
		if err := anchor.check(); err != nil {
			return err
		}
	}
	if err := d.open(); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			d.f.Close()
		}
	}()
	if err := d.recoverLast(l); err != nil {
		return err
	}
	if err := w.checkEnd(d, anchor); err != nil {
		return err
	}
	if d.last != nil {
		d.periodStart = d.last.EndTime
	} else {
		d.periodStart = l.opts.Now().UTC().Format(timeLayout)
	}
	if err := writePublicKey(w.path+PublicKeySuffix, key.pub); err != nil {
		return fmt.Errorf("write the digest public key: %w", err)
	}
	w.dig = d
	ok = true
	return nil
}

// open opens or creates the digests file for appending.
func (d *digester) open() error {
	_, statErr := os.Stat(d.path)
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		_ = syncDirOf(d.path)
	}
	if d.f != nil {
		d.f.Close()
	}
	d.f, d.fi, d.size = f, fi, fi.Size()
	return nil
}

// recoverLast cuts a torn last line and reads the newest digest.
func (d *digester) recoverLast(l *Log) error {
	nl, err := lastNewline(d.f, d.size)
	if err != nil {
		return err
	}
	if torn := d.size - (nl + 1); torn > 0 {
		if err := d.f.Truncate(nl + 1); err != nil {
			return fmt.Errorf("cut torn last digest: %w", err)
		}
		if err := d.f.Sync(); err != nil {
			return err
		}
		d.size = nl + 1
		l.opts.Logger.Warn("audit digests file ended in a torn line; cut it away", "path", d.path, "bytes", torn)
	}
	if d.size == 0 {
		return nil
	}
	line, err := lineEndingAt(d.f, d.size-1)
	if err != nil {
		return fmt.Errorf("last digest: %w", err)
	}
	sd, err := parseDigestLine(line)
	if err != nil {
		return fmt.Errorf("last digest of %s: %w; run kmsd audit verify", d.path, err)
	}
	if sd.Fingerprint == d.key.fingerprint && sd.Algorithm == d.key.alg {
		if !d.key.verify(sd.body, sd.sig) {
			return fmt.Errorf("last digest of %s (digestSeq %d) does not verify with the signing key: it was altered; run kmsd audit verify", d.path, sd.Seq)
		}
	} else {
		l.opts.Logger.Warn("audit digests were signed by another key; continuing the digest chain with this one",
			"path", d.path, "previousFingerprint", sd.Fingerprint, "fingerprint", d.key.fingerprint)
	}
	d.last = &sd
	return nil
}

// checkEnd refuses a log that ends before the newest digest or the anchor,
// and a digests file that ends before the anchor: removed records or
// digests, which writing on would bury.
func (w *writer) checkEnd(d *digester, anchor AnchorState) error {
	const fix = "run kmsd audit verify and keep the files as evidence"
	if s := d.last; s != nil {
		if s.LastSeq > w.last.seq {
			return fmt.Errorf("log ends at seq %d but signed digest %d covers records through seq %d: records were removed from the end of the log; %s",
				w.last.seq, s.Seq, s.LastSeq, fix)
		}
		if s.LastSeq == w.last.seq && s.chain != w.last.hash {
			return fmt.Errorf("last record (seq %d) does not match signed digest %d: the log was altered; %s", w.last.seq, s.Seq, fix)
		}
	}
	if anchor.IsZero() {
		return nil
	}
	if anchor.LastSeq > w.last.seq {
		return fmt.Errorf("log ends at seq %d but the audit anchor records seq %d: records were removed from the end of the log or it was replaced; %s",
			w.last.seq, anchor.LastSeq, fix)
	}
	if anchor.LastSeq == w.last.seq && anchor.ChainHash != hexHash(w.last.hash) {
		return fmt.Errorf("last record (seq %d) does not match the audit anchor: the log was altered; %s", w.last.seq, fix)
	}
	var have uint64
	if d.last != nil {
		have = d.last.Seq
	}
	if anchor.DigestSeq > have {
		return fmt.Errorf("%s ends at digest %d but the audit anchor records digest %d: signed digests were removed; %s",
			d.path, have, anchor.DigestSeq, fix)
	}
	if anchor.DigestSeq == have && have > 0 && anchor.DigestHash != hexHash(d.last.hash) {
		return fmt.Errorf("digest %d of %s does not match the audit anchor: it was replaced; %s", have, d.path, fix)
	}
	return nil
}

// writeDigest signs a digest of the chain up to the last durable record,
// appends it to the digests file, fsyncs it, and saves it to the anchor.
func (w *writer) writeDigest() error {
	l, d := w.log, w.dig
	d.attempted = time.Now()
	// Notice a rotated log first, so fileFirstSeq names the file that now
	// holds the chain's end.
	if err := w.prepare(); err != nil {
		l.opts.Logger.Warn("audit log check before a digest failed", "path", w.path, "error", err)
	}
	end := l.opts.Now().UTC().Format(timeLayout)
	end = max(end, d.periodStart) // same layout: string order is time order
	dg := digest{
		Version: digestVersion, Seq: 1, StartTime: d.periodStart, EndTime: end,
		FirstSeq: 1, LastSeq: w.last.seq, FileFirstSeq: w.start.seq + 1, ChainHash: hexHash(w.last.hash),
		Fingerprint: d.key.fingerprint, Algorithm: d.key.alg,
	}
	if p := d.last; p != nil {
		dg.Seq, dg.FirstSeq = p.Seq+1, p.LastSeq+1
		ph, ps := hexHash(p.hash), hex.EncodeToString(p.sig)
		dg.PrevHash, dg.PrevSignature = &ph, &ps
	}
	if !d.oldest.IsZero() {
		o, n := d.oldest.UTC().Format(timeLayout), d.newest.UTC().Format(timeLayout)
		dg.OldestEventTime, dg.NewestEventTime = &o, &n
	}
	line, sd, err := signedLine(d.signer, dg)
	if err == nil {
		err = d.append(l, line)
	}
	l.health.set(&l.health.digest, err)
	if err != nil {
		l.digestFailed.Add(1)
		l.opts.Logger.Error("audit digest failed", "path", d.path, "digestSeq", dg.Seq, "error", err)
		return fmt.Errorf("signed digest %d: %w", dg.Seq, err)
	}
	l.digests.Add(1)
	d.last, d.periodStart = &sd, end
	d.oldest, d.newest = time.Time{}, time.Time{}
	if d.anchor == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.Timeout)
	err = d.anchor.Save(ctx, sd.state())
	cancel()
	l.health.set(&l.health.anchor, err)
	if err != nil {
		l.anchorFailed.Add(1)
		l.opts.Logger.Error("audit anchor save failed", "digestSeq", sd.Seq, "error", err)
		return fmt.Errorf("save the audit anchor: %w", err)
	}
	return nil
}

// append writes a digest line and fsyncs it, first reopening the digests
// file if it was moved or deleted. A failed write is cut away.
func (d *digester) append(l *Log, line []byte) error {
	if st, err := os.Stat(d.path); err != nil || !os.SameFile(st, d.fi) {
		l.opts.Logger.Error("audit digests file was moved or deleted; starting a new one, which verification will report",
			"path", d.path, "coveredThroughSeq", d.lastSeq())
		if err := d.open(); err != nil {
			return err
		}
	}
	_, err := d.f.Write(line)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		_ = d.f.Truncate(d.size)
		return err
	}
	d.size += int64(len(line))
	return nil
}

// closeDigests writes a last digest if records are not yet covered, and
// closes the digests file.
func (w *writer) closeDigests() error {
	var err error
	if w.last.seq > w.dig.lastSeq() {
		err = w.writeDigest()
	}
	if cerr := w.dig.f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// writePublicKey adds pub to the PEM file at name unless it is there.
// Older keys stay, so digests they signed still verify.
func writePublicKey(name string, pub crypto.PublicKey) error {
	block, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if bytes.Contains(old, block) {
		return nil
	}
	return replaceFile(name, append(old, block...), 0o644, true)
}
