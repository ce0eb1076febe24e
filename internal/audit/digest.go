package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Suffixes of the files beside a log at path.
const (
	// digestsSuffix names the signed digests file: <path>.digests.
	digestsSuffix = ".digests"
	// PublicKeySuffix names the PEM file of the digest public keys:
	// <path>.digest-public.pem.
	PublicKeySuffix = ".digest-public.pem"
)

// DigestsPath returns the digests file of the log at path.
func DigestsPath(path string) string { return path + digestsSuffix }

// Digest signature algorithms, named as in digestSignatureAlgorithm.
const (
	AlgEd25519         = "Ed25519"
	AlgECDSAP256SHA256 = "SHA256withECDSA"
)

// digestVersion is the kmsdDigestVersion of the format written here.
const digestVersion = 1

// digestContext prefixes the signed message, so a digest signature can
// never be mistaken for a signature over anything else.
const digestContext = "kmsd-audit-digest-v1\n"

// signatureMarker starts the member that ends every digest line.
const signatureMarker = `,"signature":"`

// digest is one signed digest record without its signature. The field
// order is the wire order.
type digest struct {
	Version         int     `json:"kmsdDigestVersion"`
	Seq             uint64  `json:"digestSeq"`
	StartTime       string  `json:"digestStartTime"`
	EndTime         string  `json:"digestEndTime"`
	OldestEventTime *string `json:"oldestEventTime"`
	NewestEventTime *string `json:"newestEventTime"`
	FirstSeq        uint64  `json:"firstSeq"`
	LastSeq         uint64  `json:"lastSeq"`
	FileFirstSeq    uint64  `json:"fileFirstSeq"`
	ChainHash       string  `json:"chainHash"`
	PrevHash        *string `json:"previousDigestHash"`
	PrevSignature   *string `json:"previousDigestSignature"`
	Fingerprint     string  `json:"digestPublicKeyFingerprint"`
	Algorithm       string  `json:"digestSignatureAlgorithm"`
}

// signedDigest is a digest line split into its parts.
type signedDigest struct {
	digest
	body  []byte         // the line without the signature member
	hash  [hashSize]byte // SHA-256(body)
	sig   []byte
	chain [hashSize]byte // ChainHash decoded
}

// state is the position the digest records, as an anchor saves it.
func (s *signedDigest) state() AnchorState {
	return AnchorState{
		DigestSeq:       s.Seq,
		DigestHash:      hexHash(s.hash),
		DigestSignature: hex.EncodeToString(s.sig),
		LastSeq:         s.LastSeq,
		ChainHash:       s.ChainHash,
		DigestEndTime:   s.EndTime,
	}
}

// digestKey is what the writer and the verifier need of a public key.
type digestKey struct {
	pub         crypto.PublicKey
	alg         string
	fingerprint string
}

// newDigestKey checks that pub is a supported digest key: Ed25519, or
// ECDSA on P-256 for deployments whose signer offers only that.
func newDigestKey(pub crypto.PublicKey) (digestKey, error) {
	k := digestKey{pub: pub}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		k.alg = AlgEd25519
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return k, errors.New("audit: an ECDSA digest key must be on P-256")
		}
		k.alg = AlgECDSAP256SHA256
	default:
		return k, fmt.Errorf("audit: digest key of type %T is not supported; use Ed25519 or ECDSA P-256", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return k, fmt.Errorf("audit: digest public key: %w", err)
	}
	sum := sha256.Sum256(der)
	k.fingerprint = hex.EncodeToString(sum[:])
	return k, nil
}

// Fingerprint returns the digestPublicKeyFingerprint of a digest public
// key: the hex SHA-256 of its PKIX (SubjectPublicKeyInfo) DER encoding.
func Fingerprint(pub crypto.PublicKey) (string, error) {
	k, err := newDigestKey(pub)
	return k.fingerprint, err
}

// signDigest signs body with s. Ed25519 signs the message itself; ECDSA
// signs its SHA-256 and returns an ASN.1 DER signature.
func signDigest(s crypto.Signer, alg string, body []byte) ([]byte, error) {
	msg := append([]byte(digestContext), body...)
	if alg == AlgEd25519 {
		return s.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	return s.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// verify reports whether sig is k's signature over body.
func (k digestKey) verify(body, sig []byte) bool {
	msg := append([]byte(digestContext), body...)
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(pub, sum[:], sig)
	}
	return false
}

// signedLine marshals d, signs it and returns the line (with its newline)
// and the parsed form.
func signedLine(s crypto.Signer, d digest) ([]byte, signedDigest, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, signedDigest{}, err
	}
	sig, err := signDigest(s, d.Algorithm, body)
	if err != nil {
		return nil, signedDigest{}, fmt.Errorf("sign digest %d: %w", d.Seq, err)
	}
	line := make([]byte, 0, len(body)+len(signatureMarker)+2*len(sig)+3)
	line = append(line, body[:len(body)-1]...)
	line = append(line, signatureMarker...)
	line = hex.AppendEncode(line, sig)
	line = append(line, "\"}\n"...)
	sd := signedDigest{digest: d, body: body, hash: sha256.Sum256(body), sig: sig}
	err = decodeHash(d.ChainHash, &sd.chain)
	return line, sd, err
}

// parseDigestLine splits a digest line (without its newline) into body and
// signature and decodes the body. It checks the form, not the signature.
func parseDigestLine(line []byte) (signedDigest, error) {
	var sd signedDigest
	i := bytes.LastIndex(line, []byte(signatureMarker))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || i+len(signatureMarker) > len(line)-2 {
		return sd, errors.New("no signature member at the end of the digest")
	}
	sigHex := line[i+len(signatureMarker) : len(line)-2]
	sd.sig = make([]byte, hex.DecodedLen(len(sigHex)))
	if _, err := hex.Decode(sd.sig, sigHex); err != nil || len(sd.sig) == 0 {
		return sd, errors.New("malformed digest signature")
	}
	sd.body = append(bytes.Clone(line[:i]), '}')
	if !json.Valid(sd.body) {
		return sd, errors.New("digest is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(sd.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd.digest); err != nil {
		return sd, fmt.Errorf("malformed digest: %v", err)
	}
	if sd.Version != digestVersion {
		return sd, fmt.Errorf("unsupported kmsdDigestVersion %d", sd.Version)
	}
	if err := decodeHash(sd.ChainHash, &sd.chain); err != nil {
		return sd, fmt.Errorf("malformed chainHash: %v", err)
	}
	if _, err := time.Parse(timeLayout, sd.StartTime); err != nil {
		return sd, fmt.Errorf("malformed digestStartTime: %v", err)
	}
	if _, err := time.Parse(timeLayout, sd.EndTime); err != nil {
		return sd, fmt.Errorf("malformed digestEndTime: %v", err)
	}
	sd.hash = sha256.Sum256(sd.body)
	return sd, nil
}

// MarshalPublicKeyPEM encodes a digest public key as a PEM "PUBLIC KEY"
// block (PKIX), the form `kmsd audit verify --public-key` reads.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	if _, err := newDigestKey(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeysPEM decodes every "PUBLIC KEY" block of b. A log whose
// signing key was replaced needs the old key and the new one.
func ParsePublicKeysPEM(b []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("audit: public key: %w", err)
		}
		if _, err := newDigestKey(pub); err != nil {
			return nil, err
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("audit: no PEM \"PUBLIC KEY\" block found")
	}
	return keys, nil
}
