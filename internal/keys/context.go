package keys

import (
	"encoding/binary"
	"slices"
)

// CanonicalContext encodes an encryption context as the blob's additional
// data: uvarint(number of pairs), then for each pair in order of key bytes
// uvarint(len(key)) | key | uvarint(len(value)) | value. Length prefixes make
// the encoding injective, so no two different contexts share an encoding; an
// empty map encodes exactly like nil.
func CanonicalContext(ec map[string]string) []byte {
	ks := make([]string, 0, len(ec))
	size := binary.MaxVarintLen64
	for k, v := range ec {
		ks = append(ks, k)
		size += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	slices.Sort(ks) // Go compares strings bytewise
	out := make([]byte, 0, size)
	out = binary.AppendUvarint(out, uint64(len(ks)))
	for _, k := range ks {
		v := ec[k]
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(v)))
		out = append(out, v...)
	}
	return out
}
