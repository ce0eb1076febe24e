package keyuse

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/kmsd/kmsd/internal/uuid"
)

// How a key's last use is stored in BucketLastUsage. Since store schema
// version 4 a use is written in a compact binary form:
//
//	0x02 | at (8: Unix nanoseconds, big endian) | operation | requestId | eventId
//	operation: length (uvarint) | text
//	id:        0x00 (none) | 0x01, then 16 bytes (a lowercase UUID)
//	           | 0x02, then length (uvarint) | text
//
// about 51 bytes with kmsd's UUID ids, where the JSON record of earlier
// versions (Use, about 175 bytes) starts with '{'. A flush
// rewrites the store page of every key it writes, and at a million keys
// used at random that is nearly every page of the bucket: the records'
// size sets how many pages there are to rewrite. Records in the JSON form,
// written before version 4, are still read; each is replaced by the
// compact form when its key's next use is flushed.
const (
	compactUse = 0x02
	idNone     = 0x00
	idUUID     = 0x01
	idText     = 0x02
)

// Use is a key's use as GetKeyLastUsage reports it. Its JSON form is
// how stores before schema version 4 kept it.
type Use struct {
	At        time.Time `json:"at"`        // UTC
	Operation string    `json:"operation"` // a KeyLastUsageTrackingOperation
	RequestID string    `json:"requestId"`
	EventID   string    `json:"eventId,omitempty"` // of the call's audit record
}

// AppendStored appends u's compact stored form, as a flush writes it.
func (u Use) AppendStored(b []byte) []byte {
	return newLastUse(u.At, u.Operation, u.RequestID, u.EventID).appendStored(b)
}

// appendStored appends u's stored form.
func (u *lastUse) appendStored(b []byte) []byte {
	b = append(b, compactUse)
	b = binary.BigEndian.AppendUint64(b, uint64(u.at))
	b = binary.AppendUvarint(b, uint64(len(u.operation)))
	b = append(b, u.operation...)
	return u.eventID().appendStored(u.requestID().appendStored(b))
}

func (c compactID) appendStored(b []byte) []byte {
	switch {
	case c.isUUID:
		return append(append(b, idUUID), c.uuid[:]...)
	case c.text == "":
		return append(b, idNone)
	}
	b = binary.AppendUvarint(append(b, idText), uint64(len(c.text)))
	return append(b, c.text...)
}

// compactReader reads a compact stored use; ok turns false, for good, at
// the first thing that does not fit.
type compactReader struct {
	b  []byte
	ok bool
}

func (r *compactReader) take(n uint64) []byte {
	if !r.ok || n > uint64(len(r.b)) {
		r.ok = false
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *compactReader) text() []byte {
	n, used := binary.Uvarint(r.b)
	if used <= 0 {
		r.ok = false
		return nil
	}
	r.b = r.b[used:]
	return r.take(n)
}

// id returns an id's UUID bytes or its text; both nil for none.
func (r *compactReader) id() (b, text []byte) {
	kind := r.take(1)
	if !r.ok {
		return nil, nil
	}
	switch kind[0] {
	case idNone:
		return nil, nil
	case idUUID:
		return r.take(16), nil
	case idText:
		return nil, r.text()
	}
	r.ok = false
	return nil, nil
}

// compactParts are the fields of a compact stored use, in its memory.
type compactParts struct {
	at                 int64
	operation          []byte
	requestID, eventID [2][]byte // UUID bytes, text
}

func parseCompact(b []byte) (p compactParts, ok bool) {
	if len(b) < 9 || b[0] != compactUse {
		return p, false
	}
	p.at = int64(binary.BigEndian.Uint64(b[1:]))
	r := compactReader{b: b[9:], ok: true}
	p.operation = r.text()
	p.requestID[0], p.requestID[1] = r.id()
	p.eventID[0], p.eventID[1] = r.id()
	return p, r.ok && len(r.b) == 0 && len(p.operation) > 0
}

func partsID(id [2][]byte) string {
	if id[0] != nil {
		var b [16]byte
		copy(b[:], id[0])
		return uuid.Format(b)
	}
	return string(id[1])
}

// Decode reads a use stored in BucketLastUsage, in either form.
func Decode(b []byte) (Use, error) {
	if p, ok := parseCompact(b); ok {
		return Use{At: time.Unix(0, p.at).UTC(), Operation: string(p.operation),
			RequestID: partsID(p.requestID), EventID: partsID(p.eventID)}, nil
	}
	if len(b) > 0 && b[0] == compactUse {
		return Use{}, errors.New("malformed compact record")
	}
	var u Use
	err := json.Unmarshal(b, &u)
	return u, err
}

// storedUseAt returns the time of a stored use in Unix nanoseconds, for
// the flush: a compact record's is read in place. A JSON record was
// written with its time first (by encoding/json), so one that is valid
// JSON is read from there, and one in any other order is decoded whole,
// with the faster decoder (encoding/json emits member names exactly and
// valid UTF-8, so both decoders read it alike). ok is false for a record
// that does not decode: the flush then writes over it.
func storedUseAt(b []byte) (at int64, ok bool) {
	if p, ok := parseCompact(b); ok {
		return p.at, true
	}
	var t time.Time
	if rest, found := bytes.CutPrefix(b, []byte(`{"at":"`)); found && jsontext.Value(b).IsValid() {
		if end := bytes.IndexByte(rest, '"'); end > 0 && t.UnmarshalText(rest[:end]) == nil {
			return t.UnixNano(), true
		}
	}
	var old Use
	if len(b) == 0 || b[0] != '{' || jsonv2.Unmarshal(b, &old) != nil {
		return 0, false
	}
	return old.At.UnixNano(), true
}
