package keys

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// ErrInvalidMaterialID is returned by ParseMaterialID for anything that is
// not 64 lowercase hex digits.
var ErrInvalidMaterialID = errors.New("keys: KeyMaterialId must be 64 lowercase hex digits")

// MaterialID names one version of a key's material (AWS's KeyMaterialId).
type MaterialID [32]byte

// NewMaterialID returns a random MaterialID.
func NewMaterialID() MaterialID {
	var id MaterialID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return id
}

// String returns the 64 lowercase hex digits AWS uses for a KeyMaterialId.
func (id MaterialID) String() string { return hex.EncodeToString(id[:]) }

// ParseMaterialID parses the form String returns. Only lowercase is
// accepted, so each id has exactly one spelling (it is bound into sealed
// records as a string).
func ParseMaterialID(s string) (MaterialID, error) {
	var id MaterialID
	if len(s) != 2*len(id) {
		return MaterialID{}, ErrInvalidMaterialID
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return MaterialID{}, ErrInvalidMaterialID
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return MaterialID{}, ErrInvalidMaterialID
	}
	return id, nil
}
