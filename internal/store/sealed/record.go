package sealed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotAuthentic is returned, wrapped with the record's bucket and key, for
// a stored value that fails authentication. Its value is never returned.
var ErrNotAuthentic = errors.New("record is not authentic: it was altered, moved from another key or bucket, or written without this store's root keyring")

const (
	recordVersion = 0x01
	headerSize    = 1 + 4 // version | root key id
	tagSize       = sha256.Size
	// Overhead is what authentication adds to every stored value.
	Overhead = headerSize + tagSize
)

// notAuthentic names the record; bucket and key names are ids and dates,
// never secrets, and the value stays out of the message.
func notAuthentic(bucket, key []byte) error {
	return fmt.Errorf("store/sealed: bucket %q, key %q: %w", bucket, key, ErrNotAuthentic)
}

// sealRecord returns value framed and tagged under the active root key.
func (s *Store) sealRecord(bucket, key, value []byte) ([]byte, error) {
	id := s.ring.ActiveID()
	mac, err := s.mac(id)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+len(value)+tagSize)
	out[0] = recordVersion
	binary.BigEndian.PutUint32(out[1:], id)
	out = append(out, value...)
	return appendTag(out, mac, bucket, key, out), nil
}

// openRecord checks rec's tag for bucket and key and returns the value, a
// sub-slice of rec clipped so that appending to it cannot reach the tag.
func (s *Store) openRecord(bucket, key, rec []byte) ([]byte, error) {
	if len(rec) < Overhead || rec[0] != recordVersion {
		return nil, notAuthentic(bucket, key)
	}
	mac, err := s.mac(binary.BigEndian.Uint32(rec[1:headerSize]))
	if err != nil {
		return nil, notAuthentic(bucket, key)
	}
	n := len(rec) - tagSize
	var buf [tagSize]byte
	if !hmac.Equal(appendTag(buf[:0], mac, bucket, key, rec[:n]), rec[n:]) {
		return nil, notAuthentic(bucket, key)
	}
	return rec[headerSize:n:n], nil
}

// appendTag appends HMAC-SHA256(bucket, key, body) to dst. Bucket and key
// are length-prefixed, so no two (bucket, key, body) share a message.
func appendTag(dst []byte, k *recordKey, bucket, key, body []byte) []byte {
	m := k.get()
	defer k.put(m)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(bucket)))
	m.Write(n[:])
	m.Write(bucket)
	binary.BigEndian.PutUint32(n[:], uint32(len(key)))
	m.Write(n[:])
	m.Write(key)
	m.Write(body)
	return m.Sum(dst)
}
