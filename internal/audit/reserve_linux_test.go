package audit

import (
	"os"
	"syscall"
	"testing"
)

// onDisk returns a file's logical size and the disk it occupies.
func onDisk(t *testing.T, path string) (size, allocated int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// TestLogReservesDiskAheadAndGivesItBack: the log's blocks are allocated
// ahead of its writes, yet its size is only the records (a reader or a
// crash sees nothing else), and closing gives the rest back.
func TestLogReservesDiskAheadAndGivesItBack(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{FailClosed: true})
	appendN(t, l, "a", 20)
	size, alloc := onDisk(t, path)
	if alloc < size+reserveChunk/2 {
		t.Fatalf("%d bytes of records occupy %d bytes of disk: nothing was reserved ahead", size, alloc)
	}
	if b, err := os.ReadFile(path); err != nil || int64(len(b)) != size || b[len(b)-1] != '\n' {
		t.Fatalf("the open log reads %d bytes (err %v), size %d: want whole records only", len(b), err, size)
	}
	if rep := mustVerify(t, path); rep.Records != 20 {
		t.Fatalf("verified %d records of the open log, want 20", rep.Records)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	size2, alloc2 := onDisk(t, path)
	if size2 != size || alloc2 > size+64<<10 {
		t.Fatalf("closed log: %d bytes on %d of disk, want %d on about as much", size2, alloc2, size)
	}
}

// TestMovedLogGivesBackItsReserve: a log moved aside (rotation) keeps only
// the disk of its records once the writer starts the new file.
func TestMovedLogGivesBackItsReserve(t *testing.T) {
	path := logPath(t)
	l := openLog(t, path, Options{FailClosed: true})
	appendN(t, l, "a", 5)
	old := path + ".1"
	if err := os.Rename(path, old); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "b", 5)
	if size, alloc := onDisk(t, old); alloc > size+64<<10 {
		t.Fatalf("the moved log's %d bytes still occupy %d bytes of disk", size, alloc)
	}
	if size, alloc := onDisk(t, path); alloc < size+reserveChunk/2 {
		t.Fatalf("the new log reserved nothing: %d bytes on %d", size, alloc)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, old)
	mustVerify(t, path)
}
