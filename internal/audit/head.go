package audit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// headSuffix names the head file beside a log: <path>.head.
const headSuffix = ".head"

// head is what <path>.head records about the log file at path: the chain
// position just before its first record (start) and its last durable
// record (last). start == last for a file without records.
type head struct {
	start link
	last  link
}

type headJSON struct {
	FirstSeq  uint64 `json:"firstSeq"`
	FirstPrev string `json:"firstPrev"`
	Seq       uint64 `json:"seq"`
	Hash      string `json:"hash"`
}

func (h head) marshal() []byte {
	b, _ := json.Marshal(headJSON{
		FirstSeq:  h.start.seq + 1,
		FirstPrev: hex.EncodeToString(h.start.hash[:]),
		Seq:       h.last.seq,
		Hash:      hex.EncodeToString(h.last.hash[:]),
	})
	return append(b, '\n')
}

// readHead reads the head file at name. found is false when it does not
// exist.
func readHead(name string) (h head, found bool, err error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	var j headJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return h, true, fmt.Errorf("head file %s: %w", name, err)
	}
	if j.FirstSeq == 0 || j.Seq+1 < j.FirstSeq {
		return h, true, fmt.Errorf("head file %s: seq %d before firstSeq %d", name, j.Seq, j.FirstSeq)
	}
	h.start.seq, h.last.seq = j.FirstSeq-1, j.Seq
	if err := decodeHash(j.FirstPrev, &h.start.hash); err != nil {
		return h, true, fmt.Errorf("head file %s: firstPrev: %w", name, err)
	}
	if err := decodeHash(j.Hash, &h.last.hash); err != nil {
		return h, true, fmt.Errorf("head file %s: hash: %w", name, err)
	}
	return h, true, nil
}

func decodeHash(s string, out *[hashSize]byte) error {
	if len(s) != 2*hashSize {
		return fmt.Errorf("want %d hex digits, got %d", 2*hashSize, len(s))
	}
	_, err := hex.Decode(out[:], []byte(s))
	return err
}

// writeHead replaces the head file atomically. A crash leaves the old head
// or the new one, both consistent with the log, because the log is fsynced
// first.
func writeHead(name string, h head) error {
	return replaceFile(name, h.marshal(), 0o600, false)
}

// replaceFile replaces name with data atomically: write a temporary file,
// fsync it, rename it over the old one and, with syncDir, fsync the
// directory so the rename itself survives a crash.
func replaceFile(name string, data []byte, perm fs.FileMode, syncDir bool) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if syncDir {
		return syncDirOf(name)
	}
	return nil
}

// syncDirOf fsyncs the directory holding name.
func syncDirOf(name string) error {
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
