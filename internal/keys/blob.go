package keys

// Ciphertext blob, version 1
//
// Encrypt and the GenerateDataKey operations return this byte string as the
// CiphertextBlob of a symmetric key. It is a stable public format: any blob
// ever issued must keep decrypting, so a change means a new version byte.
//
//	offset   size  field
//	0        1     version, 0x01
//	1        1     n, length of the key id, 1..255
//	2        n     key id: printable ASCII, a key UUID or "mrk-" + 32 hex digits
//	2+n      32    KeyMaterialId of the material version that encrypted it
//	34+n     16    salt, random per message
//	50+n     12    nonce (GCM IV), random per message
//	62+n     m     AES-256-GCM ciphertext, m = plaintext length
//	62+n+m   16    GCM tag
//
// Overhead is 78+n bytes: 114 for a UUID, so a 4096-byte plaintext yields a
// 4210-byte blob, well within AWS's 6144-byte CiphertextBlob limit.
//
// Key: K = HKDF-SHA256(secret = key material (32 bytes), salt = salt,
// info = "kmsd/blob/v1"), 32 bytes, used for this message only.
//
// Additional data: blob[0:50+n] (version through salt) || CanonicalContext(ec).
// The nonce is the GCM IV and is authenticated by GCM itself, so every header
// byte is covered: a blob cannot be moved to another key id or material
// version, nor decrypted under a different encryption context. (The nonce is
// not repeated in the additional data because Go's FIPS 140 GCM generates it
// inside Seal, after the additional data is fixed.)
//
// Decryption failures of every kind, from a bad version byte to a wrong
// context, return the single error ErrInvalidCiphertext.

import (
	"crypto/rand"
	"errors"
	"slices"

	"github.com/kmsd/kmsd/internal/secret"
)

// ErrInvalidCiphertext is the only error ParseBlobHeader and DecryptBlob
// return for a bad blob or context; it says nothing about which check failed.
var ErrInvalidCiphertext = errors.New("keys: invalid ciphertext")

const (
	blobVersion    = 0x01
	blobInfo       = "kmsd/blob/v1"
	maxKeyIDLen    = 255
	materialIDSize = len(MaterialID{})
	saltSize       = 16
	nonceSize      = 12
	tagSize        = 16
)

var errKeyID = errors.New("keys: key id must be 1 to 255 printable ASCII bytes")

// BlobOverhead is the number of bytes a blob adds to its plaintext for a key
// id of keyIDLen bytes.
func BlobOverhead(keyIDLen int) int {
	return 2 + keyIDLen + materialIDSize + saltSize + nonceSize + tagSize
}

// BlobHeader is the part of a blob needed to find the key that decrypts it.
type BlobHeader struct {
	KeyID      string
	MaterialID MaterialID
}

// ParseBlobHeader reads a blob's header without doing any cryptography, so
// the caller can look up the key. The header is not authenticated until
// DecryptBlob succeeds.
func ParseBlobHeader(blob []byte) (BlobHeader, error) {
	h, _, err := parseHeader(blob)
	return h, err
}

// parseHeader also returns the length of the authenticated header, which is
// where the nonce starts.
func parseHeader(blob []byte) (BlobHeader, int, error) {
	if len(blob) < 2 || blob[0] != blobVersion {
		return BlobHeader{}, 0, ErrInvalidCiphertext
	}
	n := int(blob[1])
	if n == 0 || len(blob) < BlobOverhead(n) {
		return BlobHeader{}, 0, ErrInvalidCiphertext
	}
	id := blob[2 : 2+n]
	if !printable(id) {
		return BlobHeader{}, 0, ErrInvalidCiphertext
	}
	h := BlobHeader{KeyID: string(id)}
	copy(h.MaterialID[:], blob[2+n:])
	return h, 2 + n + materialIDSize + saltSize, nil
}

// printable reports whether b is visible ASCII (no spaces or controls),
// which every key id form satisfies.
func printable[T string | []byte](b T) bool {
	for i := range len(b) {
		if b[i] < 0x21 || b[i] > 0x7e {
			return false
		}
	}
	return true
}

// EncryptBlob encrypts plaintext under material, binding keyID, mid and ec
// to the result. A fresh salt and nonce are drawn for every call.
func EncryptBlob(keyID string, mid MaterialID, material secret.Bytes, plaintext []byte, ec map[string]string) ([]byte, error) {
	if len(keyID) == 0 || len(keyID) > maxKeyIDLen || !printable(keyID) {
		return nil, errKeyID
	}
	hdrLen := 2 + len(keyID) + materialIDSize + saltSize
	out := make([]byte, hdrLen, BlobOverhead(len(keyID))+len(plaintext))
	out[0] = blobVersion
	out[1] = byte(len(keyID))
	copy(out[2:], keyID)
	copy(out[2+len(keyID):], mid[:])
	salt := out[hdrLen-saltSize : hdrLen]
	_, _ = rand.Read(salt) // crypto/rand.Read never fails

	aead, err := messageAEAD(material, salt)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nil, plaintext, additionalData(out[:hdrLen], ec)), nil
}

// DecryptBlob authenticates and decrypts a blob with the material named in
// its header, under the encryption context ec. Every problem with the blob or
// ec gives ErrInvalidCiphertext; material that is not 32 bytes is a caller
// bug and gives a different error.
func DecryptBlob(blob []byte, material secret.Bytes, ec map[string]string) ([]byte, error) {
	_, hdrLen, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	aead, err := messageAEAD(material, blob[hdrLen-saltSize:hdrLen])
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nil, blob[hdrLen:], additionalData(blob[:hdrLen], ec))
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}

func additionalData(header []byte, ec map[string]string) []byte {
	return append(slices.Clip(header), CanonicalContext(ec)...)
}
