package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxLine bounds one line: the largest record plus its chain member.
const maxLine = MaxRecordSize + 256

// lastNewline returns the offset of the last '\n' in the first size bytes
// of r, or -1 if there is none.
func lastNewline(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := r.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i), nil
		}
		end = start
	}
	return -1, nil
}

// lineEndingAt returns the line whose '\n' is at offset nl, without the
// newline.
func lineEndingAt(r io.ReaderAt, nl int64) ([]byte, error) {
	prev, err := lastNewline(r, nl)
	if err != nil {
		return nil, err
	}
	n := nl - (prev + 1)
	if n > maxLine {
		return nil, fmt.Errorf("line of %d bytes exceeds the %d-byte limit", n, maxLine)
	}
	line := make([]byte, n)
	if _, err := r.ReadAt(line, prev+1); err != nil {
		return nil, err
	}
	return line, nil
}

// firstLine returns the first line of the first size bytes of r, without
// its newline; size must cover at least one complete line.
func firstLine(r io.ReaderAt, size int64) ([]byte, error) {
	buf := make([]byte, min(size, 64<<10))
	var line []byte
	for off := int64(0); off < size; {
		chunk := buf[:min(int64(len(buf)), size-off)]
		if _, err := r.ReadAt(chunk, off); err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			return append(line, chunk[:i]...), nil
		}
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("first line exceeds the %d-byte limit", maxLine)
		}
		off += int64(len(chunk))
	}
	return nil, errors.New("no complete line")
}
