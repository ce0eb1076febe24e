// Package secret holds key material and other secrets in a type that cannot
// print, log or marshal itself, and that can be wiped when no longer needed.
package secret

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// Bytes is secret material. Its String, GoString and Format methods print
// "[redacted]", and JSON or text marshaling fails, so a secret cannot slip
// into a log line, an error message or an audit record by accident.
type Bytes []byte

const redacted = "[redacted]"

func (Bytes) String() string                 { return redacted }
func (Bytes) GoString() string               { return redacted }
func (Bytes) Format(f fmt.State, _ rune)     { _, _ = f.Write([]byte(redacted)) }
func (Bytes) MarshalJSON() ([]byte, error)   { return nil, errRefuse }
func (Bytes) MarshalText() ([]byte, error)   { return nil, errRefuse }
func (Bytes) MarshalBinary() ([]byte, error) { return nil, errRefuse }
func (b Bytes) Equal(other Bytes) bool       { return subtle.ConstantTimeCompare(b, other) == 1 }
func (b Bytes) Len() int                     { return len(b) }

var errRefuse = errors.New("secret: refusing to marshal secret material")

// Wipe overwrites the bytes with zeros. Go's garbage collector may have
// copied them earlier; Wipe limits, not eliminates, their lifetime.
func (b Bytes) Wipe() {
	clear(b)
}

// Clone returns an independent copy.
func (b Bytes) Clone() Bytes {
	if b == nil {
		return nil
	}
	c := make(Bytes, len(b))
	copy(c, b)
	return c
}
