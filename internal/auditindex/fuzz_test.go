package auditindex

import (
	"bytes"
	"testing"
)

// FuzzParseLine feeds arbitrary lines to the parser of log lines, which
// may read a file edited by anyone able to write the log directory: it
// must not panic, and what it accepts carries a seq and a full hash.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"eventID":"e"` + chainMarker + `1,"prev":"` + zeros + `","hash":"` + zeros + `"}}`))
	f.Add([]byte(chainMarker + `18446744073709551615,"hash":"` + zeros + `"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(chainMarker + `,`))
	f.Add([]byte(`k` + chainMarker + `1` + chainMarker[1:] + `2,"hash":"` + zeros + `"}}k`))
	f.Add([]byte(`kk` + chainMarker[:4] + chainMarker + chainMarker[2:] + `3,"hash":"` + zeros + `"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := lastChainMarker(b), bytes.LastIndex(b, []byte(chainMarker)); got != want {
			t.Fatalf("lastChainMarker(%q) = %d, want %d", b, got, want)
		}
		l, err := parseLine(bytes.Clone(b))
		if err != nil {
			return
		}
		if l.seq == 0 || len(l.hash) != 64 || len(l.body) == 0 || l.body[len(l.body)-1] != '}' {
			t.Fatalf("accepted %q as seq %d hash %q", b, l.seq, l.hash)
		}
		_, _ = decodeEvent(l.seq, l.body) // must not panic either
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

// FuzzLocation decodes arbitrary posting and event values, which come
// from the index file: no panic, and nothing out of range.
func FuzzLocation(f *testing.F) {
	f.Add(location{offset: 12345, length: 678}.append(nil))
	f.Add(eventValue(nil, 7, 1700000000, location{offset: 1, length: 2}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(appendGroupEntry(appendGroupEntry(nil, 0, location{offset: 9, length: 3}), 5, location{offset: 20, length: 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if loc, _, ok := parseLocation(b); ok && (loc.offset < 0 || loc.length < 0 || loc.length > maxRecordLine) {
			t.Fatalf("location %+v from %x", loc, b)
		}
		if _, _, loc, ok := parseEventValue(b); ok && (loc.offset < 0 || loc.length < 0) {
			t.Fatalf("event location %+v from %x", loc, b)
		}
		if ps, ok := groupEntries(nil, 1, 1<<40, b); ok {
			for _, p := range ps {
				if p.seq < 1<<40 || p.loc.offset < 0 || p.loc.length < 0 || p.loc.length > maxRecordLine {
					t.Fatalf("group posting %+v from %x", p, b)
				}
			}
		}
	})
}
