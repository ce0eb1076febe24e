package xks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"strings"
)

// XKS API operation names, as Error.Op reports them.
const (
	OpGetHealthStatus = "GetHealthStatus"
	OpGetKeyMetadata  = "GetKeyMetadata"
	OpEncrypt         = "Encrypt"
	OpDecrypt         = "Decrypt"
)

// ErrInvalidInput marks a call the client refused to send: a missing
// required requestMetadata member, an external key ID outside XksKeyIdType,
// or ciphertext parts of the wrong size. It is a caller bug or a corrupt
// KMS ciphertext, never a proxy failure.
var ErrInvalidInput = errors.New("xks: invalid input")

// RequestMetadata is the spec's requestMetadata. Each call sends only the
// members the spec lists for it; empty optional members are left out.
type RequestMetadata struct {
	AWSPrincipalArn string `json:"awsPrincipalArn,omitempty"`
	AWSSourceVpc    string `json:"awsSourceVpc,omitempty"`
	AWSSourceVpce   string `json:"awsSourceVpce,omitempty"`
	KMSKeyArn       string `json:"kmsKeyArn,omitempty"`
	KMSOperation    string `json:"kmsOperation"`
	KMSRequestID    string `json:"kmsRequestId"`
	KMSViaService   string `json:"kmsViaService,omitempty"`
}

// forOp keeps the members the spec sends for op and checks the required ones.
func (md RequestMetadata) forOp(op string) (RequestMetadata, error) {
	var out RequestMetadata
	required := map[string]string{"kmsOperation": md.KMSOperation, "kmsRequestId": md.KMSRequestID}
	switch op {
	case OpGetHealthStatus:
		out = RequestMetadata{KMSOperation: md.KMSOperation, KMSRequestID: md.KMSRequestID}
	case OpGetKeyMetadata:
		out = RequestMetadata{AWSPrincipalArn: md.AWSPrincipalArn, AWSSourceVpc: md.AWSSourceVpc,
			AWSSourceVpce: md.AWSSourceVpce, KMSOperation: md.KMSOperation, KMSRequestID: md.KMSRequestID}
		required["awsPrincipalArn"] = md.AWSPrincipalArn
	default:
		out = md
		required["awsPrincipalArn"] = md.AWSPrincipalArn
		required["kmsKeyArn"] = md.KMSKeyArn
	}
	for _, name := range []string{"awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"} {
		if v, ok := required[name]; ok && v == "" {
			return out, fmt.Errorf("%w: requestMetadata.%s is required for %s", ErrInvalidInput, name, op)
		}
	}
	return out, nil
}

// KeyMetadata is a GetKeyMetadata answer.
type KeyMetadata struct {
	KeySpec   string
	KeyUsage  []string
	KeyStatus string
}

// Ciphertext is an Encrypt answer, and the Decrypt input that reverses it.
type Ciphertext struct {
	Ciphertext         []byte
	IV                 []byte // 12 or 16 bytes
	AuthenticationTag  []byte // 16 bytes
	CiphertextMetadata []byte // optional, at most 20 bytes
}

// envelope builds a request body: requestMetadata, then each member in
// order. Binary members are base64 (RFC 4648 section 4) written into one
// buffer the caller clears, since Encrypt's holds plaintext.
type envelope struct{ b bytes.Buffer }

// open starts the body; payload is the raw size of the binary members to
// come, so the buffer is sized once and never leaves a stale copy behind.
func (e *envelope) open(md RequestMetadata, payload int) error {
	m, err := stdjson.Marshal(md)
	if err != nil {
		return err
	}
	e.b.Grow(len(m) + base64.StdEncoding.EncodedLen(payload) + 512)
	e.b.WriteString(`{"requestMetadata":`)
	e.b.Write(m)
	return nil
}

func (e *envelope) str(name, v string) {
	e.b.WriteString(`,"` + name + `":"` + v + `"`)
}

func (e *envelope) bin(name string, v []byte, omitEmpty bool) {
	if omitEmpty && len(v) == 0 {
		return
	}
	e.b.WriteString(`,"` + name + `":"`)
	n := base64.StdEncoding.EncodedLen(len(v))
	e.b.Grow(n + 1)
	buf := e.b.AvailableBuffer()[:n]
	base64.StdEncoding.Encode(buf, v)
	e.b.Write(buf)
	e.b.WriteByte('"')
}

func (e *envelope) close() []byte { e.b.WriteByte('}'); return e.b.Bytes() }

// keyPath checks an external key ID against XksKeyIdType before it becomes
// part of the URI.
func keyPath(id, leaf string) (string, error) {
	if !keyID.MatchString(id) {
		return "", fmt.Errorf("%w: external key ID must be 1 to 128 of letters, digits, hyphen, underscore, period", ErrInvalidInput)
	}
	return "/keys/" + id + "/" + leaf, nil
}

// Health calls GetHealthStatus. It fails with KindUnhealthy when the proxy
// reports every external key manager UNAVAILABLE, which AWS KMS treats as an
// unreachable proxy.
func (c *Client) Health(ctx context.Context, md RequestMetadata) (*Health, error) {
	m, err := md.forOp(OpGetHealthStatus)
	if err != nil {
		return nil, err
	}
	var e envelope
	if err := e.open(m, 0); err != nil {
		return nil, err
	}
	var w healthWire
	if err := c.call(ctx, OpGetHealthStatus, "/health", e.close(), &w); err != nil {
		return nil, err
	}
	h, err := w.check()
	if err != nil {
		return nil, err
	}
	if h.Unavailable() {
		return nil, &Error{Op: OpGetHealthStatus, Kind: KindUnhealthy, Status: 200,
			Message: fmt.Sprintf("all %d external key managers report UNAVAILABLE", len(h.EkmFleetDetails))}
	}
	return h, nil
}

// Metadata calls GetKeyMetadata for externalKeyID.
func (c *Client) Metadata(ctx context.Context, externalKeyID string, md RequestMetadata) (*KeyMetadata, error) {
	path, err := keyPath(externalKeyID, "metadata")
	if err != nil {
		return nil, err
	}
	m, err := md.forOp(OpGetKeyMetadata)
	if err != nil {
		return nil, err
	}
	var e envelope
	if err := e.open(m, 0); err != nil {
		return nil, err
	}
	var w metadataWire
	if err := c.call(ctx, OpGetKeyMetadata, path, e.close(), &w); err != nil {
		return nil, err
	}
	return w.check()
}

// Encrypt asks the proxy to AES-GCM encrypt plaintext under externalKeyID
// with aad as additional authenticated data. It always requests a SHA_256
// ciphertextDataIntegrityValue and checks it, so a corrupted answer is
// caught before KMS hands out a ciphertext it could never decrypt.
func (c *Client) Encrypt(ctx context.Context, externalKeyID string, md RequestMetadata, plaintext, aad []byte) (*Ciphertext, error) {
	path, err := keyPath(externalKeyID, "encrypt")
	if err != nil {
		return nil, err
	}
	if len(plaintext) == 0 {
		return nil, fmt.Errorf("%w: plaintext is empty", ErrInvalidInput)
	}
	m, err := md.forOp(OpEncrypt)
	if err != nil {
		return nil, err
	}
	var e envelope
	if err := e.open(m, len(aad)+len(plaintext)); err != nil {
		return nil, err
	}
	e.bin("additionalAuthenticatedData", aad, true)
	e.bin("plaintext", plaintext, false)
	e.str("encryptionAlgorithm", "AES_GCM")
	e.str("ciphertextDataIntegrityValueAlgorithm", "SHA_256")
	body := e.close()
	defer clear(body)
	var w encryptWire
	if err := c.call(ctx, OpEncrypt, path, body, &w); err != nil {
		return nil, err
	}
	return w.check(len(plaintext), aad)
}

// Decrypt asks the proxy to reverse an Encrypt with the same aad.
func (c *Client) Decrypt(ctx context.Context, externalKeyID string, md RequestMetadata, ct *Ciphertext, aad []byte) ([]byte, error) {
	path, err := keyPath(externalKeyID, "decrypt")
	if err != nil {
		return nil, err
	}
	if err := ct.checkInput(); err != nil {
		return nil, err
	}
	m, err := md.forOp(OpDecrypt)
	if err != nil {
		return nil, err
	}
	var e envelope
	if err := e.open(m, len(ct.Ciphertext)+len(ct.CiphertextMetadata)+len(aad)+len(ct.AuthenticationTag)+len(ct.IV)); err != nil {
		return nil, err
	}
	e.bin("ciphertext", ct.Ciphertext, false)
	e.bin("ciphertextMetadata", ct.CiphertextMetadata, true)
	e.str("encryptionAlgorithm", "AES_GCM")
	e.bin("additionalAuthenticatedData", aad, true)
	e.bin("authenticationTag", ct.AuthenticationTag, false)
	e.bin("initializationVector", ct.IV, false)
	var w decryptWire
	if err := c.call(ctx, OpDecrypt, path, e.close(), &w); err != nil {
		return nil, err
	}
	if w.Plaintext == nil {
		return nil, malformed(OpDecrypt, 200, "plaintext is missing")
	}
	if len(w.Plaintext) != len(ct.Ciphertext) {
		clear(w.Plaintext)
		return nil, malformed(OpDecrypt, 200, "plaintext is %d bytes for %d bytes of ciphertext", len(w.Plaintext), len(ct.Ciphertext))
	}
	return w.Plaintext, nil
}

func (ct *Ciphertext) checkInput() error {
	switch {
	case ct == nil || len(ct.Ciphertext) == 0:
		return fmt.Errorf("%w: ciphertext is empty", ErrInvalidInput)
	case len(ct.IV) != 12 && len(ct.IV) != 16:
		return fmt.Errorf("%w: initialization vector must be 12 or 16 bytes", ErrInvalidInput)
	case len(ct.AuthenticationTag) != 16:
		return fmt.Errorf("%w: authentication tag must be 16 bytes", ErrInvalidInput)
	case len(ct.CiphertextMetadata) > 20:
		return fmt.Errorf("%w: ciphertext metadata exceeds 20 bytes", ErrInvalidInput)
	}
	return nil
}

type decryptWire struct {
	Plaintext []byte `json:"plaintext"`
}

type encryptWire struct {
	Ciphertext         []byte `json:"ciphertext"`
	CiphertextMetadata []byte `json:"ciphertextMetadata"`
	IV                 []byte `json:"initializationVector"`
	AuthenticationTag  []byte `json:"authenticationTag"`
	CDIV               []byte `json:"ciphertextDataIntegrityValue"`
}

func (w *encryptWire) check(plaintextLen int, aad []byte) (*Ciphertext, error) {
	bad := func(format string, args ...any) (*Ciphertext, error) {
		return nil, malformed(OpEncrypt, 200, format, args...)
	}
	switch {
	case w.Ciphertext == nil:
		return bad("ciphertext is missing")
	case len(w.Ciphertext) != plaintextLen:
		return bad("ciphertext is %d bytes for %d bytes of plaintext", len(w.Ciphertext), plaintextLen)
	case w.IV == nil:
		return bad("initializationVector is missing")
	case len(w.IV) != 12 && len(w.IV) != 16:
		return bad("initializationVector is %d bytes, not 12 or 16", len(w.IV))
	case w.AuthenticationTag == nil:
		return bad("authenticationTag is missing")
	case len(w.AuthenticationTag) != 16:
		return bad("authenticationTag is %d bytes, not 16", len(w.AuthenticationTag))
	case len(w.CiphertextMetadata) > 20:
		return bad("ciphertextMetadata is %d bytes, more than 20", len(w.CiphertextMetadata))
	case w.CDIV == nil:
		return bad("ciphertextDataIntegrityValue is missing although SHA_256 was requested")
	}
	// Appendix C: SHA-256 over aad || ciphertextMetadata || iv || ciphertext || tag.
	h := sha256.New()
	for _, p := range [][]byte{aad, w.CiphertextMetadata, w.IV, w.Ciphertext, w.AuthenticationTag} {
		h.Write(p)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), w.CDIV) != 1 {
		return bad("ciphertextDataIntegrityValue does not match the answer")
	}
	ct := &Ciphertext{Ciphertext: w.Ciphertext, IV: w.IV, AuthenticationTag: w.AuthenticationTag}
	if len(w.CiphertextMetadata) > 0 {
		ct.CiphertextMetadata = w.CiphertextMetadata
	}
	return ct, nil
}

type metadataWire struct {
	KeySpec   *string   `json:"keySpec"`
	KeyUsage  *[]string `json:"keyUsage"`
	KeyStatus *string   `json:"keyStatus"`
}

func (w *metadataWire) check() (*KeyMetadata, error) {
	bad := func(format string, args ...any) (*KeyMetadata, error) {
		return nil, malformed(OpGetKeyMetadata, 200, format, args...)
	}
	switch {
	case w.KeySpec == nil || !token(*w.KeySpec):
		return bad("keySpec is missing or not a short printable string")
	case w.KeyUsage == nil || *w.KeyUsage == nil:
		return bad("keyUsage is missing")
	case len(*w.KeyUsage) > 10:
		return bad("keyUsage has %d values, more than 10", len(*w.KeyUsage))
	case w.KeyStatus == nil || (*w.KeyStatus != "ENABLED" && *w.KeyStatus != "DISABLED"):
		return bad("keyStatus is missing or not ENABLED or DISABLED")
	}
	for _, u := range *w.KeyUsage {
		if !token(u) {
			return bad("keyUsage has a value that is not a short printable string")
		}
	}
	return &KeyMetadata{KeySpec: *w.KeySpec, KeyUsage: *w.KeyUsage, KeyStatus: *w.KeyStatus}, nil
}

// token is what a keySpec or keyUsage value must look like to be echoed in
// a KMS error message: 1 to 64 printable ASCII characters.
func token(s string) bool {
	return s != "" && len(s) <= 64 && sanitize(s) == s
}

// CreateKeyProblem says why CreateKey must refuse this external key, in the
// words AWS KMS uses with XksKeyInvalidConfigurationException; "" when the
// key is an enabled AES_256 key for ENCRYPT and DECRYPT.
func (m *KeyMetadata) CreateKeyProblem() string {
	var enc, dec bool
	for _, u := range m.KeyUsage {
		enc = enc || u == "ENCRYPT"
		dec = dec || u == "DECRYPT"
	}
	switch {
	case m.KeySpec != "AES_256":
		return "The key spec of the external key must be AES_256. The key spec of specified external key is " + m.KeySpec + "."
	case !enc || !dec:
		return "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of specified external key is " +
			strings.Join(m.KeyUsage, ", ") + "."
	case m.KeyStatus != "ENABLED":
		return "The status of the external key must be ENABLED. The status of specified external key is " + m.KeyStatus + "."
	}
	return ""
}
