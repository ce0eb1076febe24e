package audit

import (
	"errors"
	"syscall"
)

// reserveChunk is how much disk the log reserves past its end at a time.
//
// Appending to a file whose blocks the file system must still allocate
// costs several times the CPU of writing into blocks allocated ahead:
// on ext4, a 15 KB batch written and fsynced took 140–220 µs of kernel
// CPU appended, 90–110 µs into reserved blocks. The log writes a batch per
// fsync, so that is a cost per batch on the request path's audit.
const reserveChunk = 8 << 20

// reserve allocates the disk blocks for the next n bytes of the log ahead
// of the write, reserveChunk at a time, without changing the file's size:
// readers, the chain and a crash see only what was written. Where the file
// system cannot, or the disk is full, the write goes ahead without; its
// own error is the one that matters.
func (w *writer) reserve(n int) {
	if w.noReserve || w.size+int64(n) <= w.reserved {
		return
	}
	sc, ok := w.f.(syscall.Conn)
	if !ok {
		w.noReserve = true
		return
	}
	want := max(int64(n), reserveChunk)
	err := allocate(sc, w.size, want)
	switch {
	case err == nil:
		w.reserved = w.size + want
	case errors.Is(err, errors.ErrUnsupported):
		w.noReserve = true
	}
}

// unreserved records that f's blocks past its end were given back (a
// truncate) or that f is another file.
func (w *writer) unreserved() { w.reserved = 0 }

// release gives back the blocks reserved past the end of the file before
// it is closed, so a log file left behind uses only the disk its records
// do. It cuts nothing when the file is not as the writer left it.
func (w *writer) release() {
	if w.f == nil || w.reserved <= w.size {
		return
	}
	if fi, err := w.f.Stat(); err == nil && fi.Size() == w.size {
		_ = w.f.Truncate(w.size)
	}
	w.unreserved()
}
