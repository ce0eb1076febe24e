package audit

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
)

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name     string
		tamper   func(lines [][]byte) [][]byte
		wantLine int
	}{
		{"edited byte", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"Encrypt"`), []byte(`"Encrypu"`), 1)
			return ls
		}, 3},
		{"edited chain seq", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"seq":3,`), []byte(`"seq":9,`), 1)
			return ls
		}, 3},
		{"deleted middle line", func(ls [][]byte) [][]byte { return slices.Delete(ls, 2, 3) }, 3},
		{"swapped lines", func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }, 2},
		{"inserted copy", func(ls [][]byte) [][]byte { return slices.Insert(ls, 4, ls[1]) }, 5},
		{"truncated last line", func(ls [][]byte) [][]byte {
			ls[5] = ls[5][:len(ls[5])-20]
			return ls
		}, 6},
		{"tail cut by whole lines", func(ls [][]byte) [][]byte { return ls[:4] }, 5},
		{"everything cut", func(ls [][]byte) [][]byte { return nil }, 1},
		{"first line deleted", func(ls [][]byte) [][]byte { return ls[1:] }, 1},
		{"not JSON", func(ls [][]byte) [][]byte {
			ls[3] = append([]byte("x"), ls[3]...)
			return ls
		}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := logPath(t)
			l := openLog(t, path, Options{})
			appendN(t, l, "r", 6)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, path)
			writeLines(t, path, c.tamper(readLines(t, path)))
			_, err := VerifyFile(path)
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("VerifyFile = %v, want a *VerifyError", err)
			}
			if verr.Line != c.wantLine {
				t.Errorf("error names line %d, want %d: %v", verr.Line, c.wantLine, err)
			}
			t.Log(err)
		})
	}
}

// Without its head file, a log that lost its first records looks like a
// file rotated away from an earlier one; the report shows where it starts.
func TestVerifyWithoutHeadReportsStart(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{})
	appendN(t, l, "r", 6)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + headSuffix)
	writeLines(t, path, readLines(t, path)[1:])
	rep := mustVerify(t, path)
	if rep.Head || rep.FirstSeq != 2 || rep.FirstPrev == zeroHex {
		t.Errorf("%+v", rep)
	}
}

const zeroHex = "0000000000000000000000000000000000000000000000000000000000000000"

func TestVerifyEmptyFreshLog(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, path); rep.Records != 0 || rep.Head {
		t.Errorf("%+v", rep)
	}
}

func FuzzParseLine(f *testing.F) {
	var zero [hashSize]byte
	line, _ := appendLine(nil, []byte(`{"eventName":"Encrypt"}`), 1, &zero)
	f.Add(line[:len(line)-1])
	f.Add([]byte(`{"kmsdChain":{"seq":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseLine(b)
		if err != nil {
			return
		}
		// Whatever parses must re-encode to the same line.
		again, _ := appendLine(nil, append(slices.Clone(p.bodyHead), '}'), p.seq, &p.prev)
		if p.check() && !bytes.Equal(again[:len(again)-1], b) {
			t.Fatalf("parse/encode mismatch:\n%q\n%q", b, again)
		}
	})
}
