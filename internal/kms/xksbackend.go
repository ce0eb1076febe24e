package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// The XKS Proxy API backend: kmsd's own symmetric keys serve as the
// external keys of another KMS (AWS KMS, or another kmsd). The proxy
// authenticates its caller itself (SigV4 under its own credentials), so no
// key policy is evaluated here; the key's state and spec still decide.
//
// Each encryption uses a fresh AES-256-GCM key derived from the key's
// current material and a random salt, as the ciphertext blob does (so one
// material version never meets the 2^32 random-nonce bound), under AAD
//
//	uint16(len(aad)) | aad | uint8(len(metadata)) | metadata
//
// as the XKS Proxy API specification asks. The ciphertextMetadata names
// the material version and carries the salt:
//
//	version 0x01 (1) | KeyMaterialId prefix (8) | salt (11)
//
// twenty bytes, the most the specification allows, all authenticated.

const (
	xksMetaVersion   = 0x01
	xksMaterialBytes = 8
	xksSaltBytes     = 11
	// XKSMetadataSize is the length of the ciphertextMetadata XKSEncrypt
	// returns.
	XKSMetadataSize = 1 + xksMaterialBytes + xksSaltBytes
	// XKSIVSize and XKSTagSize are the AES-GCM nonce and tag lengths.
	XKSIVSize  = 12
	XKSTagSize = 16
	// xksMaxAAD is the longest AAD the 2-byte length prefix can carry.
	xksMaxAAD = 1<<16 - 1
)

const xksInfo = "kmsd/xks/v1"

// XKSKey is a key as the XKS Proxy API describes it.
type XKSKey struct {
	ARN string
	// Enabled is true when the key's state is Enabled; any other state
	// (Disabled, PendingDeletion, PendingImport…) makes it unusable.
	Enabled bool
	State   string
}

// XKSCiphertext is the output of XKSEncrypt and the input of XKSDecrypt,
// in the XKS Proxy API's parts.
type XKSCiphertext struct {
	Ciphertext []byte
	IV         []byte
	Tag        []byte
	Metadata   []byte
	// KeyMaterialID is the material version used (set by XKSEncrypt and
	// XKSDecrypt, for the audit record); not secret.
	KeyMaterialID string
}

// xksKey resolves an externalKeyId in the caller's account and Region: a
// key id, or an alias name without its "alias/" prefix. Only customer
// managed SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys whose material kmsd holds
// are served; others are reported by xksExposed.
func (s *Service) xksKey(ctx context.Context, c *Call, externalKeyID string) (*cachedKey, error) {
	ref := keyRef{account: c.Caller.AccountID, region: c.Caller.Region, input: externalKeyID, caller: c.Caller.AccountID}
	switch {
	case externalKeyID == "" || strings.ContainsRune(externalKeyID, '/'):
		return nil, kmserr.New(kmserr.NotFound, "Invalid keyId '%s'", externalKeyID)
	case validKeyID(externalKeyID):
		ref.keyID = externalKeyID
	default:
		ref.alias = "alias/" + externalKeyID
	}
	k, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	return k, nil
}

// xksExposed reports why a key is not one the XKS Proxy API serves, or nil.
func xksExposed(k *cachedKey) error {
	r := k.rec
	switch {
	case r.KeySpec != specSymmetric || r.KeyUsage != usageEncryptDecrypt:
		return kmserr.New(kmserr.InvalidKeyUsage, "%s is a %s %s key; only SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys can be external keys.", k.arn, r.KeySpec, r.KeyUsage)
	case r.KeyManager != managerCustomer:
		return kmserr.New(kmserr.InvalidKeyUsage, "%s is an AWS managed key; only customer managed keys can be external keys.", k.arn)
	case r.Origin != originAWSKMS && r.Origin != originExternal:
		return kmserr.New(kmserr.InvalidKeyUsage, "%s has origin %s; only keys whose material kmsd holds can be external keys.", k.arn, r.Origin)
	}
	return nil
}

// XKSKeyMetadata describes the key externalKeyID names. A key the XKS
// Proxy API does not serve (another spec or usage, AWS managed, material
// held elsewhere) is NotFoundException, as if it did not exist.
func (s *Service) XKSKeyMetadata(ctx context.Context, c *Call, externalKeyID string) (*XKSKey, error) {
	k, err := s.xksKey(ctx, c, externalKeyID)
	if err != nil {
		return nil, err
	}
	if err := xksExposed(k); err != nil {
		return nil, kmserr.New(kmserr.NotFound, "%s", kmserr.As(err).Message)
	}
	return &XKSKey{ARN: k.arn, Enabled: k.rec.KeyState == stateEnabled, State: k.rec.KeyState}, nil
}

// xksUsable resolves a key for encryption or decryption: served, in the
// Enabled state, and within the caller's symmetric request quota for
// action ("" charges none).
func (s *Service) xksUsable(ctx context.Context, c *Call, externalKeyID, action string) (*cachedKey, error) {
	k, err := s.xksKey(ctx, c, externalKeyID)
	if err != nil {
		return nil, err
	}
	if err := xksExposed(k); err != nil {
		return nil, err
	}
	if err := checkState(k, ruleCrypto); err != nil {
		return nil, err
	}
	if err := s.throttle(c, action, k); err != nil {
		return nil, err
	}
	return k, nil
}

// XKSEncrypt encrypts plaintext with AES-256-GCM under the current
// material of the key externalKeyID names, binding aad.
func (s *Service) XKSEncrypt(ctx context.Context, c *Call, externalKeyID string, plaintext, aad []byte) (*XKSCiphertext, error) {
	if len(aad) > xksMaxAAD {
		return nil, kmserr.New(kmserr.Validation, "additionalAuthenticatedData is longer than %d bytes.", xksMaxAAD)
	}
	k, err := s.xksUsable(ctx, c, externalKeyID, "kms:Encrypt")
	if err != nil {
		return nil, err
	}
	mid := k.current.String()
	material, ok := k.material(mid)
	if !ok {
		return nil, kmserr.Internalf("key %s has no current material", k.rec.KeyID)
	}
	meta := make([]byte, XKSMetadataSize)
	meta[0] = xksMetaVersion
	copy(meta[1:], k.current[:xksMaterialBytes])
	_, _ = rand.Read(meta[1+xksMaterialBytes:]) // crypto/rand.Read never fails
	aead, err := xksAEAD(material, meta)
	if err != nil {
		return nil, kmserr.Internalf("xks encrypt under %s: %w", k.rec.KeyID, err)
	}
	// The AEAD draws its own nonce and puts it first: nonce | ct | tag.
	out := aead.Seal(nil, nil, plaintext, xksAAD(aad, meta))
	n := len(out)
	return &XKSCiphertext{
		IV:            out[:XKSIVSize],
		Ciphertext:    out[XKSIVSize : n-XKSTagSize],
		Tag:           out[n-XKSTagSize:],
		Metadata:      meta,
		KeyMaterialID: mid,
	}, nil
}

// XKSDecrypt reverses XKSEncrypt with the material version the metadata
// names, even after the key was rotated. Anything that does not open,
// including metadata kmsd did not make, is InvalidCiphertextException.
func (s *Service) XKSDecrypt(ctx context.Context, c *Call, externalKeyID string, in *XKSCiphertext, aad []byte) (secret.Bytes, error) {
	if len(aad) > xksMaxAAD {
		return nil, kmserr.New(kmserr.Validation, "additionalAuthenticatedData is longer than %d bytes.", xksMaxAAD)
	}
	k, err := s.xksUsable(ctx, c, externalKeyID, "kms:Decrypt")
	if err != nil {
		return nil, err
	}
	return k.xksOpen(in, aad)
}

// XKSVerify checks that a ciphertext XKSEncrypt just returned decrypts to
// plaintext (the integrity check of the specification's Appendix C), in
// constant time and without charging the request quota a second time.
func (s *Service) XKSVerify(ctx context.Context, c *Call, externalKeyID string, in *XKSCiphertext, aad, plaintext []byte) error {
	k, err := s.xksUsable(ctx, c, externalKeyID, "")
	if err != nil {
		return err
	}
	pt, err := k.xksOpen(in, aad)
	if err != nil {
		return kmserr.Internalf("xks integrity check under %s: %w", k.rec.KeyID, err)
	}
	defer pt.Wipe()
	if !pt.Equal(plaintext) {
		return kmserr.Internalf("xks integrity check under %s: the ciphertext decrypts to other bytes", k.rec.KeyID)
	}
	return nil
}

// xksOpen decrypts with the material the metadata names; it sets
// in.KeyMaterialID.
func (k *cachedKey) xksOpen(in *XKSCiphertext, aad []byte) (secret.Bytes, error) {
	meta := in.Metadata
	if len(meta) != XKSMetadataSize || meta[0] != xksMetaVersion || len(in.IV) != XKSIVSize || len(in.Tag) != XKSTagSize {
		return nil, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	sealed := make([]byte, 0, XKSIVSize+len(in.Ciphertext)+XKSTagSize)
	sealed = append(append(append(sealed, in.IV...), in.Ciphertext...), in.Tag...)
	fullAAD := xksAAD(aad, meta)
	prefix := hex.EncodeToString(meta[1 : 1+xksMaterialBytes])
	// Material ids are random, so the prefix names one version; were two
	// to share it, each is tried (the tag tells them apart).
	for _, m := range k.materials {
		id, material := m.id, m.pt
		if !strings.HasPrefix(id, prefix) {
			continue
		}
		aead, err := xksAEAD(material, meta)
		if err != nil {
			return nil, kmserr.Internalf("xks decrypt under %s: %w", k.rec.KeyID, err)
		}
		if pt, err := aead.Open(nil, nil, sealed, fullAAD); err == nil {
			in.KeyMaterialID = id
			return secret.Bytes(pt), nil
		}
	}
	return nil, kmserr.New(kmserr.InvalidCiphertext, "")
}

// xksAEAD returns AES-256-GCM with random nonces under
// HKDF-SHA256(material, salt, "kmsd/xks/v1"), the salt being the
// metadata's last bytes. Only this form of GCM is allowed in FIPS 140-only
// mode.
func xksAEAD(material secret.Bytes, meta []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, material, meta[1+xksMaterialBytes:], xksInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}

// xksAAD is the AAD the specification prescribes: each part with its
// length, so that AAD and metadata cannot trade bytes.
func xksAAD(aad, meta []byte) []byte {
	b := make([]byte, 0, 2+len(aad)+1+len(meta))
	b = binary.BigEndian.AppendUint16(b, uint16(len(aad)))
	b = append(b, aad...)
	b = append(b, byte(len(meta)))
	return append(b, meta...)
}
