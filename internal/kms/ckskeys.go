package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Keys in custom key stores keep kmsd's ciphertext blob header (so Decrypt
// without a KeyId finds the key) and replace the payload after it:
//
//	header = version | n | key id | KeyMaterialId | random salt   (blob.go)
//	AWS_CLOUDHSM:       header | token AES-GCM(plaintext)               (iv|ct|tag)
//	EXTERNAL_KEY_STORE: header | proxy(kmsd blob of plaintext)          (double encryption)
//
// The additional data of the outer layer is header || CanonicalContext(ec),
// so the header and the encryption context are bound as in a kmsd blob.

const keyStateUnavailable = "Unavailable"

// inKeyStore reports whether a key lives in a custom key store.
func inKeyStore(k *cachedKey) bool { return k.rec.CustomKeyStoreID != "" }

// createStoreKey finishes CreateKey for a key in a custom key store: rec is
// validated and authorized, without material.
func (s *Service) createStoreKey(ctx context.Context, c *Call, in *kmsapi.CreateKeyInput, rec *keyRecord) (*kmsapi.CreateKeyOutput, error) {
	switch {
	case in.CustomKeyStoreId == "":
		return nil, kmserr.New(kmserr.UnsupportedOperation, "Origin %s requires a CustomKeyStoreId: keys of this origin are made only in a custom key store.", rec.Origin)
	case rec.KeySpec != specSymmetric || rec.KeyUsage != usageEncryptDecrypt:
		return nil, kmserr.New(kmserr.UnsupportedOperation, "KeySpec %s is not supported for KMS keys in a custom key store. Only SYMMETRIC_DEFAULT keys are.", rec.KeySpec)
	case rec.Origin == originXKS && in.XksKeyId == "":
		return nil, kmserr.New(kmserr.Validation, "XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
	}
	st, err := s.loadStoreFor(ctx, c, in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	if want := map[string]string{typeCloudHSM: originCloudHSM, typeXKS: originXKS}[st.Type]; rec.Origin != want {
		return nil, kmserr.New(kmserr.Validation, "Custom key store %s is of type %s: Origin must be %s.", st.ID, st.Type, want)
	}
	if st.State != connConnected {
		return nil, kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. You can create KMS keys only in a CONNECTED custom key store.", st.ID, st.State)
	}
	live, err := s.liveOf(ctx, st)
	if err != nil {
		return nil, createKeyError(st, err)
	}
	rec.CustomKeyStoreID, rec.XksKeyID = st.ID, in.XksKeyId
	mid := keys.NewMaterialID()
	rec.CurrentMaterial = mid.String()
	if st.Type == typeXKS {
		md := XKSRequestMetadata{AWSPrincipalArn: c.Caller.ARN, KMSOperation: "CreateKey", KMSRequestID: c.RequestID}
		xm, err := live.xks.Metadata(ctx, in.XksKeyId, md)
		if err != nil {
			return nil, createKeyError(st, err)
		}
		if !usableExternalKey(xm) {
			return nil, kmserr.New(errXksKeyInvalidConfig, "The external key %s must be an enabled AES_256 key that can ENCRYPT and DECRYPT.", in.XksKeyId)
		}
		// Double encryption: the key's own material in kmsd, then the proxy.
		material, err := s.freshMaterial(ctx, specSymmetric)
		if err != nil {
			return nil, err
		}
		defer material.Wipe()
		m, err := s.newMaterial(rec.partition(), rec.KeyID, material, mid, originXKS)
		if err != nil {
			return nil, kmserr.Internalf("%w", err)
		}
		rec.Materials = []materialRecord{m}
	} else if err := live.hsm.GenerateKey(rec.KeyID); err != nil {
		return nil, createKeyError(st, err)
	}
	// As in commitNewKey, the key and the answer are the call's before
	// the commit.
	n := len(c.Resources)
	out := &kmsapi.CreateKeyOutput{}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		c.Resources = c.Resources[:n]
		if rec.XksKeyID != "" {
			if other, err := keyUsingExternalKey(tx, rec); err != nil || other != "" {
				return errors.Join(err, kmserr.New(errXksKeyInUse, "External key %s is already associated with KMS key %s in custom key store %s.", rec.XksKeyID, other, st.ID))
			}
		}
		if err := s.insertKey(tx, rec); err != nil {
			return err
		}
		c.touch(rec.arn())
		out.KeyMetadata = metadata(rec)
		applyStoreMetadata(rec, st, out.KeyMetadata)
		c.answer = out
		return nil
	})
	if err != nil {
		c.Resources, c.answer = c.Resources[:n], nil
		if live.hsm != nil {
			_ = live.hsm.DeleteKey(rec.KeyID)
		}
		return nil, storeErr(err, "create key")
	}
	return out, nil
}

func usableExternalKey(m *XKSKeyMetadata) bool {
	var enc, dec bool
	for _, u := range m.KeyUsage {
		enc, dec = enc || u == "ENCRYPT", dec || u == "DECRYPT"
	}
	return m.KeySpec == "AES_256" && m.KeyStatus == "ENABLED" && enc && dec
}

// createKeyError is CreateKey's answer to a backend failure.
func createKeyError(st *keyStoreRecord, err error) error {
	if errors.Is(err, errRetired) {
		return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is not CONNECTED. You can create KMS keys only in a CONNECTED custom key store.", st.ID)
	}
	f := failureOf(err)
	cause := fmt.Errorf("custom key store %s: %w", st.ID, err)
	if st.Type == typeCloudHSM {
		if f == FailKeyExists {
			return kmserr.Internalf("generate key in %s: %w", st.ClusterID, err)
		}
		return withCause(kmserr.New(errKeyStoreInvalidState, "Custom key store %s cannot reach cluster %s (%s). Disconnect and reconnect it.", st.ID, st.ClusterID, connectionErrorCode(st.Type, f)), cause)
	}
	code := errKeyStoreInvalidState
	switch f {
	case FailKeyNotFound:
		code = errXksKeyNotFound
	case FailKeyDisabled, FailKeyUsage:
		code = errXksKeyInvalidConfig
	case FailAccessDenied:
		code = kmserr.InvalidState
	}
	return withCause(kmserr.New(code, "%s", xksMessage(f)), cause)
}

// keyUsingExternalKey returns the id of another key of the same store bound
// to rec's external key, or "".
func keyUsingExternalKey(tx store.Tx, rec *keyRecord) (string, error) {
	var found string
	err := scanPartitionKeys(tx, rec.partition(), func(o *keyRecord) bool {
		if o.CustomKeyStoreID == rec.CustomKeyStoreID && o.XksKeyID == rec.XksKeyID && o.KeyID != rec.KeyID {
			found = o.KeyID
			return false
		}
		return true
	})
	return found, err
}

// keysInStore counts the keys of a store, those pending deletion included.
func keysInStore(tx store.Tx, st *keyStoreRecord) (int, error) {
	n := 0
	err := scanPartitionKeys(tx, st.partition(), func(o *keyRecord) bool {
		if o.CustomKeyStoreID == st.ID {
			n++
		}
		return true
	})
	return n, err
}

// scanPartitionKeys calls fn for every key record of a partition until it
// returns false. Only store-level operations (create a key in an external
// key store, delete a store) scan.
func scanPartitionKeys(tx store.Tx, part string, fn func(*keyRecord) bool) error {
	var after []byte
	for {
		kvs, err := tx.Scan(bucketKeys, []byte(part), after, 500)
		if err != nil || len(kvs) == 0 {
			return err
		}
		for _, kv := range kvs {
			r, err := decodeKeyRecord(kv.Value)
			if err != nil {
				return err
			}
			if !fn(r) {
				return nil
			}
		}
		after = kvs[len(kvs)-1].Key
	}
}

// storeMetadata adds what DescribeKey shows of a key's custom key store,
// and reports the key Unavailable while the store is not connected.
func (s *Service) storeMetadata(ctx context.Context, r *keyRecord, md *kmsapi.KeyMetadata) {
	if r.CustomKeyStoreID == "" {
		return
	}
	var st *keyStoreRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		st, err = loadKeyStore(tx, r.AccountID, r.Region, r.CustomKeyStoreID)
		return err
	})
	if err != nil {
		slog.Warn("describe key: load custom key store", "keyId", r.KeyID, "err", err)
		st = nil
	}
	applyStoreMetadata(r, st, md)
}

// applyStoreMetadata adds to md what a key of the custom key store st
// shows: the store, the external key, the cluster, and a key state of
// Unavailable while the store is not connected. With st nil (not loaded)
// it adds only what r says.
func applyStoreMetadata(r *keyRecord, st *keyStoreRecord, md *kmsapi.KeyMetadata) {
	md.CustomKeyStoreId = r.CustomKeyStoreID
	if r.XksKeyID != "" {
		md.XksKeyConfiguration = &kmsapi.XksKeyConfigurationType{Id: r.XksKeyID}
	}
	if st == nil {
		return
	}
	md.CloudHsmClusterId = st.ClusterID
	if st.State != connConnected && r.KeyState != statePendingDeletion {
		md.KeyState, md.Enabled = keyStateUnavailable, kmsapi.Bool(false)
	}
}

// liveOf returns the live connection of a CONNECTED store.
func (s *Service) liveOf(ctx context.Context, st *keyStoreRecord) (*cksLive, error) {
	key := string(st.key())
	if l := s.cks.lookup(key); l != nil && l.attempt == st.Attempt {
		l.confirm(s.now())
		return l, nil
	}
	// First use after a restart, or on another node: AWS's periodic
	// health check stands for the connection check.
	l, err := s.openStore(ctx, st, XKSRequestMetadata{KMSOperation: "KmsHealthCheck"})
	if err != nil {
		return nil, err
	}
	return s.cks.install(key, l)
}

// useError is a cryptographic operation's answer to a backend failure: a
// ciphertext the token cannot authenticate is InvalidCiphertextException,
// everything else KMSInvalidStateException, as AWS documents.
func (s *Service) useError(k *cachedKey, st *keyStoreRecord, err error) error {
	f := failureOf(err)
	cause := fmt.Errorf("custom key store %s, key %s: %w", st.ID, k.rec.KeyID, err)
	if st.Type == typeXKS {
		return withCause(kmserr.New(kmserr.InvalidState, "%s", xksMessage(f)), cause)
	}
	switch f {
	case FailInvalidCiphertext:
		return withCause(kmserr.New(kmserr.InvalidCiphertext, ""), cause)
	case FailKeyNotFound:
		return withCause(kmserr.New(kmserr.InvalidState, "The key material of %s is not in cluster %s.", k.arn, st.ClusterID), cause)
	}
	return withCause(kmserr.New(kmserr.InvalidState, "%s is unavailable: custom key store %s cannot use cluster %s (%s).", k.arn, st.ID, st.ClusterID, connectionErrorCode(st.Type, f)), cause)
}

// withCause keeps a backend failure for the request's log line; the client
// sees only AWS's message.
func withCause(e *kmserr.Error, cause error) *kmserr.Error {
	e.Cause = cause
	return e
}

// storeHeader starts a custom-store blob: kmsd's header with a fresh salt.
func storeHeader(k *cachedKey) []byte {
	id := k.rec.KeyID
	h := make([]byte, 0, 2+len(id)+len(k.current)+16)
	h = append(h, 0x01, byte(len(id)))
	h = append(h, id...)
	h = append(h, k.current[:]...)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	return append(h, salt...)
}

func xksMetadata(c *Call, k *cachedKey, op string) XKSRequestMetadata {
	return XKSRequestMetadata{AWSPrincipalArn: c.Caller.ARN, KMSKeyArn: k.arn, KMSOperation: op, KMSRequestID: c.RequestID}
}

// sealWith encrypts plaintext under a symmetric key, in kmsd or in the
// key's custom key store.
func (s *Service) sealWith(ctx context.Context, c *Call, k *cachedKey, op string, pt []byte, ec map[string]string) ([]byte, error) {
	if !inKeyStore(k) {
		return k.seal(pt, ec)
	}
	st, l, err := s.liveStore(ctx, k)
	if err != nil {
		return nil, err
	}
	hdr := storeHeader(k)
	aad := append(append([]byte{}, hdr...), keys.CanonicalContext(ec)...)
	var payload []byte
	if l.hsm != nil {
		payload, err = l.hsm.Encrypt(k.rec.KeyID, pt, aad)
	} else {
		var inner []byte
		if inner, err = k.seal(pt, ec); err != nil {
			return nil, err
		}
		payload, err = l.xks.Encrypt(ctx, k.rec.XksKeyID, xksMetadata(c, k, op), inner, aad)
	}
	if err != nil {
		return nil, s.useError(k, st, err)
	}
	return append(hdr, payload...), nil
}

// usableInStore is usableForEncryption for every kind of key: a key of a
// store that is not connected is Unavailable, whatever its own state
// (AWS shows PendingDeletion only over it).
func (s *Service) usableInStore(ctx context.Context, k *cachedKey, op string, alg kmsapi.EncryptionAlgorithmSpec) error {
	if inKeyStore(k) && k.rec.KeyState == stateDisabled {
		if _, _, err := s.liveStore(ctx, k); kmserr.CodeOf(err) == kmserr.InvalidState {
			return err
		}
	}
	return usableForEncryption(k, op, alg)
}

// encryptWith is encryptUnder for every kind of key.
func (s *Service) encryptWith(ctx context.Context, c *Call, k *cachedKey, op string, pt []byte, ec map[string]string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) ([]byte, kmsapi.EncryptionAlgorithmSpec, error) {
	if !inKeyStore(k) {
		return encryptUnder(k, op, pt, ec, alg, dryRun)
	}
	if err := s.usableInStore(ctx, k, op, alg); err != nil {
		return nil, "", err
	}
	if dryRun {
		return nil, "", errDryRun
	}
	blob, err := s.sealWith(ctx, c, k, op, pt, ec)
	return blob, algSymmetric, err
}

// openStoreBlob decrypts a blob of a key in a custom key store; the header
// is parsed and names k.
func (s *Service) openStoreBlob(ctx context.Context, c *Call, k *cachedKey, op string, blob []byte, ec map[string]string) (secret.Bytes, error) {
	hdrLen := 2 + len(k.rec.KeyID) + len(keys.MaterialID{}) + 16
	st, l, err := s.liveStore(ctx, k)
	if err != nil {
		return nil, err
	}
	aad := append(append([]byte{}, blob[:hdrLen]...), keys.CanonicalContext(ec)...)
	if l.hsm != nil {
		pt, err := l.hsm.Decrypt(k.rec.KeyID, blob[hdrLen:], aad)
		if err != nil {
			return nil, s.useError(k, st, err)
		}
		return pt, nil
	}
	inner, err := l.xks.Decrypt(ctx, k.rec.XksKeyID, xksMetadata(c, k, op), blob[hdrLen:], aad)
	if err != nil {
		return nil, s.useError(k, st, err)
	}
	h, err := keys.ParseBlobHeader(inner)
	material, ok := k.material(h.MaterialID.String())
	if err != nil || h.KeyID != k.rec.KeyID || !ok {
		return nil, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	pt, err := keys.DecryptBlob(inner, material, ec)
	if err != nil {
		return nil, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	return pt, nil
}

// randomFromStore checks GenerateRandom's CustomKeyStoreId: an AWS_CLOUDHSM
// store that is connected.
func (s *Service) randomFromStore(ctx context.Context, c *Call, id string) error {
	if id == "" {
		return nil
	}
	st, err := s.loadStoreFor(ctx, c, id)
	if err != nil {
		return err
	}
	if st.Type != typeCloudHSM {
		return kmserr.New(kmserr.UnsupportedOperation, "GenerateRandom does not support external key stores.")
	}
	if st.State != connConnected {
		return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. GenerateRandom needs a CONNECTED custom key store.", st.ID, st.State)
	}
	return nil
}

// refuseInKeyStore refuses the operations AWS does not support on keys in
// custom key stores (data key pairs).
func refuseInKeyStore(k *cachedKey, op string) error {
	if inKeyStore(k) {
		return kmserr.New(kmserr.UnsupportedOperation, "%s is in a custom key store: %s is not supported for KMS keys in custom key stores.", k.arn, op)
	}
	return nil
}

// keyDeleted removes the token object of a deleted key of an AWS_CLOUDHSM
// store. A store that cannot be reached leaves the object behind, as AWS
// leaves orphaned key material in a disconnected cluster.
func (s *Service) keyDeleted(ctx context.Context, r *keyRecord) {
	if r == nil || r.CustomKeyStoreID == "" || r.XksKeyID != "" {
		return
	}
	var st *keyStoreRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		st, err = loadKeyStore(tx, r.AccountID, r.Region, r.CustomKeyStoreID)
		return err
	})
	if err == nil && st.State == connConnected {
		var l *cksLive
		if l, err = s.liveOf(ctx, st); err == nil {
			err = l.hsm.DeleteKey(r.KeyID)
		}
	}
	if err != nil || st.State != connConnected {
		slog.Warn("deleted key's material left in its token", "keyId", r.KeyID, "customKeyStoreId", r.CustomKeyStoreID, "err", err)
	}
}
