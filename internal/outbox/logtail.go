package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"
)

// tailChunk is how much of the log FindInLog reads at a time, from the end.
const tailChunk = 64 << 10

// FindInLog marks the ids that appear as eventID in the JSON-lines audit
// log at path, reading backwards from its end until every id is found or it
// reaches a record older than since (less a minute of clock slack): a
// request's record is written after its commit, so it can only be near the
// end. A missing log holds none.
func FindInLog(path string, ids map[string]bool, since time.Time) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	cutoff := since.Add(-time.Minute)
	missing := 0
	for _, found := range ids {
		if !found {
			missing++
		}
	}
	end := fi.Size()
	var carry []byte // the start of a line whose beginning is further back
	for end > 0 && missing > 0 {
		start := max(end-tailChunk, 0)
		buf := make([]byte, end-start, end-start+int64(len(carry)))
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return err
		}
		buf = append(buf, carry...)
		end = start
		// Every line but the first is complete; the first may continue
		// further back unless this chunk starts the file.
		lines := bytes.Split(buf, []byte{'\n'})
		carry = nil
		if start > 0 {
			carry = append([]byte(nil), lines[0]...)
			lines = lines[1:]
		}
		for i := len(lines) - 1; i >= 0; i-- {
			var rec struct {
				EventID   string `json:"eventID"`
				EventTime string `json:"eventTime"`
			}
			if len(lines[i]) == 0 || json.Unmarshal(lines[i], &rec) != nil {
				continue
			}
			if found, want := ids[rec.EventID]; want && !found {
				ids[rec.EventID] = true
				missing--
			}
			if t, err := time.Parse(time.RFC3339, rec.EventTime); err == nil && !since.IsZero() && t.Before(cutoff) {
				return nil
			}
		}
	}
	return nil
}
