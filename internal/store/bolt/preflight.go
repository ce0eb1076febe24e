package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
)

// The bbolt file format (version 2), as far as preflight reads it. bbolt
// writes integers in the machine's byte order.
const (
	pageHeaderSize  = 16 // id u64 | flags u16 | count u16 | overflow u32
	elementSize     = 16 // branch: pos u32 | ksize u32 | pgid u64; leaf: flags u32 | pos u32 | ksize u32 | vsize u32
	bucketHeader    = 16 // root pgid u64 | sequence u64
	metaSize        = 64
	metaSummed      = 56 // the checksum covers the fields before it
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	branchPage      = 0x01
	leafPage        = 0x02
	freelistPage    = 0x10
	bucketLeafFlag  = 0x01
	noFreelist      = ^uint64(0)
	maxTreeDepth    = 64
	minPageSize     = 1024
	maxPageSize     = 1 << 24
	freelistOverrun = 0xFFFF // count field value meaning "the count is the first element"
)

var ne = binary.NativeEndian

// meta is the part of a bbolt meta page that preflight uses.
type meta struct {
	pageSize       int64
	root, freelist uint64
	hwm            uint64 // pages in use: the high water mark
	txid           uint64
}

// parseMeta reads the meta page whose page starts at b; ok is false when it
// is not an intact meta page of a version-2 file.
func parseMeta(b []byte) (m meta, ok bool) {
	if len(b) < pageHeaderSize+metaSize {
		return m, false
	}
	d := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(d[:metaSummed])
	if ne.Uint32(d[0:]) != boltMagic || ne.Uint32(d[4:]) != boltVersion || ne.Uint64(d[56:]) != h.Sum64() {
		return m, false
	}
	m = meta{
		pageSize: int64(ne.Uint32(d[8:])),
		root:     ne.Uint64(d[16:]),
		freelist: ne.Uint64(d[32:]),
		hwm:      ne.Uint64(d[40:]),
		txid:     ne.Uint64(d[48:]),
	}
	return m, true
}

// preflight walks the structure of a bbolt file through ReadAt, checking
// every bound bbolt trusts when it dereferences its memory map: the header
// pages, that the file holds every page in use, and that every page the
// trees and the freelist reference, and every element of those pages,
// lies inside them. bbolt reads a page id or an offset from a damaged file
// as a pointer, and a fault there kills the process; a file that passes
// cannot make it fault. Key order and page accounting are left to
// bbolt's own Tx.Check, which is safe to run once these bounds hold.
//
// note is set, and err nil, when one of the two header pages is damaged:
// bbolt then uses the other, as it does after a crash that tore the last
// header write.
func preflight(r io.ReaderAt, size int64) (note string, err error) {
	if size < 2*minPageSize {
		return "", fmt.Errorf("it is %d bytes long, too short to be a kmsd store (truncated?)", size)
	}
	m, note, err := readMetas(r, size)
	if err != nil {
		return "", err
	}
	if m.hwm < 3 || m.hwm > uint64(size)/uint64(m.pageSize) {
		if m.hwm >= 3 && m.hwm <= uint64(1<<62)/uint64(m.pageSize) {
			return "", fmt.Errorf("it was truncated: it is %d bytes long but its pages in use need %d bytes", size, m.hwm*uint64(m.pageSize))
		}
		return "", fmt.Errorf("its header claims %d pages in use, which cannot be right for a file of %d bytes", m.hwm, size)
	}
	w := &walker{r: r, m: m, seen: make(map[uint64]bool)}
	if m.freelist != noFreelist {
		if err := w.freelist(); err != nil {
			return "", err
		}
	}
	if err := w.tree(m.root, "the root bucket", 0); err != nil {
		return "", err
	}
	return note, nil
}

// readMetas finds the page size and returns the meta page bbolt will use:
// the intact one with the higher transaction id.
func readMetas(r io.ReaderAt, size int64) (meta, string, error) {
	var buf [4096]byte
	n, _ := r.ReadAt(buf[:], 0)
	m0, ok0 := parseMeta(buf[:n])
	ps := m0.pageSize
	if !ok0 {
		// Page 1 is at the page size, which only the meta pages record.
		ps = 0
		for pos := int64(minPageSize); pos <= maxPageSize && pos < size; pos <<= 1 {
			n, _ := r.ReadAt(buf[:], pos)
			if m, ok := parseMeta(buf[:n]); ok && m.pageSize == pos {
				ps = pos
				break
			}
		}
		if ps == 0 {
			return meta{}, "", errors.New("neither of its two header pages is intact: it is not a kmsd store, or its start was overwritten")
		}
	}
	if ps < minPageSize || ps > maxPageSize || bits.OnesCount64(uint64(ps)) != 1 {
		return meta{}, "", fmt.Errorf("its header records a page size of %d bytes, which bbolt never writes", ps)
	}
	n, _ = r.ReadAt(buf[:], ps)
	m1, ok1 := parseMeta(buf[:n])
	ok1 = ok1 && m1.pageSize == ps
	ok0 = ok0 && m0.pageSize == ps
	switch {
	case ok0 && ok1:
		if m1.txid > m0.txid {
			return m1, "", nil
		}
		return m0, "", nil
	case ok0:
		return m0, "header page 1 is damaged; the store is read through header page 0, which may lack the last write before a crash", nil
	case ok1:
		return m1, "header page 0 is damaged; the store is read through header page 1, which may lack the last write before a crash", nil
	}
	return meta{}, "", errors.New("neither of its two header pages is intact: it is not a kmsd store, or its start was overwritten")
}

// walker visits the pages of one file once each.
type walker struct {
	r    io.ReaderAt
	m    meta
	seen map[uint64]bool
}

// page reads page id with its overflow pages, checking that they are in
// use and that the page says it is page id (bbolt asserts that).
func (w *walker) page(id uint64, from string) ([]byte, error) {
	if id < 2 || id >= w.m.hwm {
		return nil, fmt.Errorf("%s refers to page %d, outside its %d pages in use", from, id, w.m.hwm)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("%s refers to page %d, which is already in use elsewhere", from, id)
	}
	w.seen[id] = true
	var h [pageHeaderSize]byte
	if _, err := w.r.ReadAt(h[:], int64(id)*w.m.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := ne.Uint64(h[0:]); got != id {
		return nil, fmt.Errorf("page %d (referred to by %s) is labelled page %d: it was overwritten", id, from, got)
	}
	overflow := uint64(ne.Uint32(h[12:]))
	if overflow >= w.m.hwm-id {
		return nil, fmt.Errorf("page %d (referred to by %s) claims %d more pages, beyond its %d pages in use", id, from, overflow, w.m.hwm)
	}
	b := make([]byte, int64(1+overflow)*w.m.pageSize)
	if _, err := w.r.ReadAt(b, int64(id)*w.m.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	return b, nil
}

func (w *walker) freelist() error {
	b, err := w.page(w.m.freelist, "the header's freelist")
	if err != nil {
		return err
	}
	if flags := ne.Uint16(b[8:]); flags != freelistPage {
		return fmt.Errorf("page %d should hold the freelist but has type %#x", w.m.freelist, flags)
	}
	start, count := uint64(pageHeaderSize), uint64(ne.Uint16(b[10:]))
	if count == freelistOverrun {
		count = ne.Uint64(b[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(b))-start)/8 {
		return fmt.Errorf("the freelist (page %d) claims %d entries, more than its pages hold", w.m.freelist, count)
	}
	for i := range count {
		if id := ne.Uint64(b[start+8*i:]); id < 2 || id >= w.m.hwm {
			return fmt.Errorf("the freelist (page %d) lists page %d, outside the %d pages in use", w.m.freelist, id, w.m.hwm)
		}
	}
	return nil
}

// tree checks the B+tree rooted at page id and every bucket beneath it.
func (w *walker) tree(id uint64, from string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s is more than %d levels deep: its pages form a loop", from, maxTreeDepth)
	}
	b, err := w.page(id, from)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("page %d", id)
	switch flags := ne.Uint16(b[8:]); flags {
	case branchPage:
		return w.branch(b, where, depth)
	case leafPage:
		return w.leaf(b, where, depth)
	default:
		return fmt.Errorf("%s (referred to by %s) has type %#x, not a branch or leaf page", where, from, flags)
	}
}

func (w *walker) branch(b []byte, where string, depth int) error {
	count := int(ne.Uint16(b[10:]))
	if count == 0 {
		return fmt.Errorf("%s is an empty branch page", where)
	}
	if pageHeaderSize+count*elementSize > len(b) {
		return fmt.Errorf("%s claims %d elements, more than it holds", where, count)
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		pos, ksize := ne.Uint32(b[e:]), ne.Uint32(b[e+4:])
		if !within(len(b), e, pos, ksize, 0) {
			return fmt.Errorf("%s: element %d points outside the page", where, i)
		}
		if err := w.tree(ne.Uint64(b[e+8:]), fmt.Sprintf("%s element %d", where, i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (or an inline bucket's page, which is a leaf
// page inside a value) and the buckets its elements hold.
func (w *walker) leaf(b []byte, where string, depth int) error {
	count := int(ne.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > len(b) {
		return fmt.Errorf("%s claims %d elements, more than it holds", where, count)
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		flags, pos, ksize, vsize := ne.Uint32(b[e:]), ne.Uint32(b[e+4:]), ne.Uint32(b[e+8:]), ne.Uint32(b[e+12:])
		if !within(len(b), e, pos, ksize, vsize) {
			return fmt.Errorf("%s: element %d points outside the page", where, i)
		}
		if flags&bucketLeafFlag == 0 {
			continue
		}
		v := b[e+int(pos)+int(ksize):][:vsize]
		if len(v) < bucketHeader {
			return fmt.Errorf("%s: element %d is a bucket of %d bytes, too short for its header", where, i, len(v))
		}
		name := fmt.Sprintf("bucket %q", b[e+int(pos):][:ksize])
		if root := ne.Uint64(v); root != 0 {
			if err := w.tree(root, name, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[bucketHeader:]
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != leafPage {
			return fmt.Errorf("%s (inline in %s) is not a leaf page", name, where)
		}
		if err := w.leaf(inline, name+" (inline)", depth+1); err != nil {
			return err
		}
	}
	return nil
}

// within reports whether an element at offset e whose key (and value)
// start pos bytes after it fits in a page of n bytes.
func within(n, e int, pos, ksize, vsize uint32) bool {
	end := uint64(e) + uint64(pos) + uint64(ksize) + uint64(vsize)
	return uint64(pos) >= elementSize && end <= uint64(n)
}
