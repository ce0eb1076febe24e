package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
)

// hashSize is the size of a chain hash (SHA-256).
const hashSize = sha256.Size

// chainMarker starts the chain member that ends every line.
const chainMarker = `,"kmsdChain":{"seq":`

// link is one position in the chain: a record's seq and hash.
type link struct {
	seq  uint64
	hash [hashSize]byte
}

// chainHash computes hash_N = SHA-256(prev || uint64_be(seq) || body), where
// body is the record's JSON object without the kmsdChain member. body is
// passed in two parts (head and tail) so a verifier can hash a line in
// place; the parts are simply concatenated.
func chainHash(prev *[hashSize]byte, seq uint64, head, tail []byte) [hashSize]byte {
	var c chainHasher
	return c.sum(prev, seq, head, tail)
}

// chainHasher computes chain hashes like chainHash, reusing one SHA-256
// state and scratch space so that hashing a record allocates nothing.
type chainHasher struct {
	h   hash.Hash
	buf [hashSize + 8]byte
}

// sum returns chainHash(prev, seq, head, tail).
func (c *chainHasher) sum(prev *[hashSize]byte, seq uint64, head, tail []byte) [hashSize]byte {
	if c.h == nil {
		c.h = sha256.New()
	} else {
		c.h.Reset()
	}
	copy(c.buf[:hashSize], prev[:])
	binary.BigEndian.PutUint64(c.buf[hashSize:], seq)
	c.h.Write(c.buf[:])
	c.h.Write(head)
	c.h.Write(tail)
	var out [hashSize]byte
	copy(out[:], c.h.Sum(c.buf[:0]))
	return out
}

// appendLine appends to dst the line for body (a JSON object) at seq after
// prev, and returns it with the record's hash.
func appendLine(dst []byte, body []byte, seq uint64, prev *[hashSize]byte) ([]byte, [hashSize]byte) {
	var c chainHasher
	return c.appendLine(dst, body, seq, prev)
}

// appendLine is appendLine using c to hash.
func (c *chainHasher) appendLine(dst []byte, body []byte, seq uint64, prev *[hashSize]byte) ([]byte, [hashSize]byte) {
	sum := c.sum(prev, seq, body, nil)
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, chainMarker...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, `","hash":"`...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, "\"}}\n"...)
	return dst, sum
}

// parsedLine is a line split into its record body and chain member.
type parsedLine struct {
	bodyHead []byte // the body is bodyHead followed by "}"
	seq      uint64
	prev     [hashSize]byte
	hash     [hashSize]byte
}

// parseLine splits a line (without its newline) into body and chain. It
// accepts only the exact form appendLine writes.
func parseLine(line []byte) (parsedLine, error) {
	var p parsedLine
	i := bytes.LastIndex(line, []byte(chainMarker))
	if i < 0 {
		return p, errors.New("no kmsdChain member at the end of the record")
	}
	p.bodyHead = line[:i]
	rest := line[i+len(chainMarker):]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return p, errors.New("malformed kmsdChain member")
	}
	seq, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	if err != nil || seq == 0 || strconv.FormatUint(seq, 10) != string(rest[:j]) {
		return p, fmt.Errorf("malformed kmsdChain seq %q", rest[:j])
	}
	p.seq = seq
	rest = rest[j:]
	if rest, err = parseHexMember(rest, `,"prev":"`, &p.prev); err != nil {
		return p, err
	}
	if rest, err = parseHexMember(rest, `","hash":"`, &p.hash); err != nil {
		return p, err
	}
	if string(rest) != `"}}` {
		return p, errors.New("unexpected bytes after the kmsdChain member")
	}
	return p, nil
}

// parseHexMember reads prefix followed by a lower-case hex hash into out.
func parseHexMember(b []byte, prefix string, out *[hashSize]byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(prefix)) || len(b) < len(prefix)+2*hashSize {
		return nil, errors.New("malformed kmsdChain member")
	}
	h := b[len(prefix) : len(prefix)+2*hashSize]
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, errors.New("malformed hash in kmsdChain member")
		}
	}
	if _, err := hex.Decode(out[:], h); err != nil {
		return nil, errors.New("malformed hash in kmsdChain member")
	}
	return b[len(prefix)+2*hashSize:], nil
}

// check recomputes the line's hash and reports whether it matches.
func (p *parsedLine) check() bool {
	return chainHash(&p.prev, p.seq, p.bodyHead, []byte("}")) == p.hash
}
