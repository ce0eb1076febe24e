package kms

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/uuid"
)

// How a key record is stored in bucketKeys. Since store schema version 5
// a record is written in a compact binary form:
//
//	0xC1 | field*
//	field: tag (1 byte) | length (uvarint) | value
//
// A string is its bytes; a time is a varint of Unix seconds and a uvarint
// of nanoseconds; a number is a varint; a flag is present with an empty
// value; a material and a tag are fields of their own inside their
// value. A key id that is a lowercase UUID is its 16 bytes, a material id
// of 64 lowercase hex digits its 32, and the policy a key is given when
// created without one (defaultPolicy1) is a flag. The rarer lists
// (rotations, imports, the policy's bound principals) are JSON inside
// their field. Empty strings and lists, false flags and zero numbers are
// left out.
//
// A key record with the default policy is about 250 bytes this way
// against about 1,000 as JSON, so a million-key store file is under half
// the size, and a cache miss reads a smaller value and decodes it without
// a JSON scanner. Records written as JSON before version 5 start with '{' and are
// still read; each is written compactly when its key next changes.
const compactRecord = 0xC1

// Field tags of a compact key record. A tag is never reused for another
// meaning, and a new one goes at the end (TestCompactRecordLayoutIsFixed
// pins the numbers): a record from a newer release is refused by the
// store's schema version before it is read.
const (
	fKeyID = iota + 1
	fKeyUUID
	fAccount
	fRegion
	fDescription
	fKeyUsage
	fKeySpec
	fOrigin
	fKeyManager
	fManagedAlias
	fKeyState
	fCreated
	fDeletionDate
	fPendingWindow
	fMultiRegion
	fPolicy
	fDefaultPolicy1 // the policy is defaultPolicy1(account)
	fPrincipals     // JSON
	fTag            // nested: tagKey, tagValue
	fMaterial       // nested: mID or mIDHex, mCreated, mOrigin, mSealed
	fCurrentIndex
	fCurrentText
	fRotationEnabled
	fRotationPeriod
	fNextRotation
	fRotations // JSON
	fPrimaryRegion
	fReplicaRegion // one field per Region, in order
	fImports       // JSON
	fCustomKeyStore
	fXksKeyID
)

// Fields of a material and of a tag.
const (
	mID = iota + 1
	mIDHex
	mCreated
	mOrigin
	mSealed

	tagKey   = 1
	tagValue = 2
)

var errMalformedRecord = errors.New("malformed compact key record")

// encodeKeyRecord returns r's stored form.
func encodeKeyRecord(r *keyRecord) ([]byte, error) {
	w := fieldWriter{b: make([]byte, 0, 320+len(r.Description)+len(r.Policy))}
	w.b = append(w.b, compactRecord)
	if id, ok := uuid.Parse(r.KeyID); ok {
		w.field(fKeyUUID, id[:])
	} else {
		w.text(fKeyID, r.KeyID)
	}
	w.text(fAccount, r.AccountID)
	w.text(fRegion, r.Region)
	w.text(fDescription, r.Description)
	w.text(fKeyUsage, r.KeyUsage)
	w.text(fKeySpec, r.KeySpec)
	w.text(fOrigin, r.Origin)
	w.text(fKeyManager, r.KeyManager)
	w.text(fManagedAlias, r.AWSManagedAlias)
	w.text(fKeyState, r.KeyState)
	w.time(fCreated, r.Created)
	if r.DeletionDate != nil {
		w.time(fDeletionDate, *r.DeletionDate)
	}
	w.number(fPendingWindow, int64(r.PendingWindowDays))
	w.flag(fMultiRegion, r.MultiRegion)
	if r.Policy != "" && r.Policy == sharedDefaultPolicy(r.AccountID) {
		w.flag(fDefaultPolicy1, true)
	} else {
		w.text(fPolicy, r.Policy)
	}
	if err := w.json(fPrincipals, r.PolicyPrincipals, len(r.PolicyPrincipals)); err != nil {
		return nil, err
	}
	for _, t := range r.Tags {
		var in fieldWriter
		in.field(tagKey, []byte(t.Key))
		in.field(tagValue, []byte(t.Value))
		w.field(fTag, in.b)
	}
	current := -1
	for i, m := range r.Materials {
		var in fieldWriter
		if raw, err := hex.DecodeString(m.ID); err == nil && len(raw) == 32 && hex.EncodeToString(raw) == m.ID {
			in.field(mIDHex, raw)
		} else {
			in.text(mID, m.ID)
		}
		in.time(mCreated, m.Created)
		in.text(mOrigin, m.Origin)
		in.field(mSealed, m.Sealed)
		w.field(fMaterial, in.b)
		if current < 0 && m.ID == r.CurrentMaterial {
			current = i
		}
	}
	if current >= 0 {
		w.field(fCurrentIndex, binary.AppendUvarint(nil, uint64(current)))
	} else {
		w.text(fCurrentText, r.CurrentMaterial)
	}
	w.flag(fRotationEnabled, r.RotationEnabled)
	w.number(fRotationPeriod, int64(r.RotationPeriodDays))
	if r.NextRotation != nil {
		w.time(fNextRotation, *r.NextRotation)
	}
	if err := w.json(fRotations, r.Rotations, len(r.Rotations)); err != nil {
		return nil, err
	}
	w.text(fPrimaryRegion, r.PrimaryRegion)
	for _, region := range r.ReplicaRegions {
		w.field(fReplicaRegion, []byte(region))
	}
	if err := w.json(fImports, r.Imports, len(r.Imports)); err != nil {
		return nil, err
	}
	w.text(fCustomKeyStore, r.CustomKeyStoreID)
	w.text(fXksKeyID, r.XksKeyID)
	return w.b, nil
}

type fieldWriter struct{ b []byte }

func (w *fieldWriter) field(tag byte, v []byte) {
	w.b = append(w.b, tag)
	w.b = binary.AppendUvarint(w.b, uint64(len(v)))
	w.b = append(w.b, v...)
}

func (w *fieldWriter) text(tag byte, s string) {
	if s != "" {
		w.b = append(w.b, tag)
		w.b = binary.AppendUvarint(w.b, uint64(len(s)))
		w.b = append(w.b, s...)
	}
}

func (w *fieldWriter) flag(tag byte, on bool) {
	if on {
		w.b = append(w.b, tag, 0)
	}
}

func (w *fieldWriter) number(tag byte, n int64) {
	if n != 0 {
		var v [binary.MaxVarintLen64]byte
		w.field(tag, binary.AppendVarint(v[:0], n))
	}
}

func (w *fieldWriter) time(tag byte, t time.Time) {
	var v [2 * binary.MaxVarintLen64]byte
	w.field(tag, binary.AppendUvarint(binary.AppendVarint(v[:0], t.Unix()), uint64(t.Nanosecond())))
}

func (w *fieldWriter) json(tag byte, v any, n int) error {
	if n == 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.field(tag, b)
	return nil
}

// fieldReader reads the fields of a compact record. Nothing it returns
// outlives the buffer it reads: the store lends that buffer for one
// transaction, so every value kept is copied or shared (sharedBytes).
type fieldReader struct {
	b   []byte
	err error
}

func (r *fieldReader) next() (tag byte, v []byte, ok bool) {
	if len(r.b) == 0 || r.err != nil {
		return 0, nil, false
	}
	n, used := binary.Uvarint(r.b[1:])
	if used <= 0 || n > uint64(len(r.b)-1-used) {
		r.err = errMalformedRecord
		return 0, nil, false
	}
	tag, v = r.b[0], r.b[1+used:1+used+int(n)]
	r.b = r.b[1+used+int(n):]
	return tag, v, true
}

func readTimeValue(v []byte) (time.Time, error) {
	sec, n := binary.Varint(v)
	if n <= 0 {
		return time.Time{}, errMalformedRecord
	}
	nsec, m := binary.Uvarint(v[n:])
	if m <= 0 || n+m != len(v) || nsec >= uint64(time.Second) {
		return time.Time{}, errMalformedRecord
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}

func readNumber32(v []byte) (int32, error) {
	n, used := binary.Varint(v)
	if used <= 0 || used != len(v) || int64(int32(n)) != n {
		return 0, errMalformedRecord
	}
	return int32(n), nil
}

// decodeCompactRecord reads a record in the compact form.
func decodeCompactRecord(b []byte) (*keyRecord, error) {
	if len(b) == 0 || b[0] != compactRecord {
		return nil, errMalformedRecord
	}
	r := &keyRecord{Schema: recordSchema}
	rd := fieldReader{b: b[1:]}
	defaultPolicy, current := false, -1
	var err error
	for tag, v, ok := rd.next(); ok && err == nil; tag, v, ok = rd.next() {
		switch tag {
		case fKeyID:
			r.KeyID = string(v)
		case fKeyUUID:
			if len(v) != 16 {
				return nil, errMalformedRecord
			}
			var id [16]byte
			copy(id[:], v)
			r.KeyID = uuid.Format(id)
		case fAccount:
			r.AccountID = sharedBytes(v)
		case fRegion:
			r.Region = sharedBytes(v)
		case fDescription:
			r.Description = string(v)
		case fKeyUsage:
			r.KeyUsage = sharedBytes(v)
		case fKeySpec:
			r.KeySpec = sharedBytes(v)
		case fOrigin:
			r.Origin = sharedBytes(v)
		case fKeyManager:
			r.KeyManager = sharedBytes(v)
		case fManagedAlias:
			r.AWSManagedAlias = string(v)
		case fKeyState:
			r.KeyState = sharedBytes(v)
		case fCreated:
			r.Created, err = readTimeValue(v)
		case fDeletionDate:
			r.DeletionDate, err = readTimePointer(v)
		case fPendingWindow:
			r.PendingWindowDays, err = readNumber32(v)
		case fMultiRegion:
			r.MultiRegion = true
		case fPolicy:
			r.Policy = sharedBytes(v)
		case fDefaultPolicy1:
			defaultPolicy = true
		case fPrincipals:
			err = unmarshalList(v, &r.PolicyPrincipals)
		case fTag:
			var t tagRecord
			t, err = readTag(v)
			r.Tags = append(r.Tags, t)
		case fMaterial:
			var m materialRecord
			m, err = readMaterialValue(v)
			r.Materials = append(r.Materials, m)
		case fCurrentIndex:
			n, used := binary.Uvarint(v)
			if used <= 0 || used != len(v) || n > 1<<16 {
				return nil, errMalformedRecord
			}
			current = int(n)
		case fCurrentText:
			r.CurrentMaterial = string(v)
		case fRotationEnabled:
			r.RotationEnabled = true
		case fRotationPeriod:
			r.RotationPeriodDays, err = readNumber32(v)
		case fNextRotation:
			r.NextRotation, err = readTimePointer(v)
		case fRotations:
			err = unmarshalList(v, &r.Rotations)
		case fPrimaryRegion:
			r.PrimaryRegion = sharedBytes(v)
		case fReplicaRegion:
			r.ReplicaRegions = append(r.ReplicaRegions, sharedBytes(v))
		case fImports:
			err = unmarshalList(v, &r.Imports)
		case fCustomKeyStore:
			r.CustomKeyStoreID = sharedBytes(v)
		case fXksKeyID:
			r.XksKeyID = string(v)
		default:
			return nil, fmt.Errorf("%w: unknown field %d", errMalformedRecord, tag)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case rd.err != nil:
		return nil, rd.err
	case current >= len(r.Materials):
		return nil, errMalformedRecord
	case current >= 0:
		r.CurrentMaterial = r.Materials[current].ID
	}
	if defaultPolicy {
		r.Policy = sharedDefaultPolicy(r.AccountID)
	}
	return r, nil
}

// unmarshalList reads a list kept as JSON; an empty one is nil, as the
// encoder leaves an empty list out.
func unmarshalList[T any](v []byte, list *[]T) error {
	if err := json.Unmarshal(v, list); err != nil {
		return err
	}
	if len(*list) == 0 {
		*list = nil
	}
	return nil
}

func readTimePointer(v []byte) (*time.Time, error) {
	t, err := readTimeValue(v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func readTag(v []byte) (tagRecord, error) {
	var t tagRecord
	rd := fieldReader{b: v}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case tagKey:
			t.Key = string(v)
		case tagValue:
			t.Value = string(v)
		default:
			return t, errMalformedRecord
		}
	}
	return t, rd.err
}

func readMaterialValue(v []byte) (materialRecord, error) {
	var m materialRecord
	var err error
	rd := fieldReader{b: v}
	for tag, v, ok := rd.next(); ok && err == nil; tag, v, ok = rd.next() {
		switch tag {
		case mID:
			m.ID = string(v)
		case mIDHex:
			m.ID = hex.EncodeToString(v)
		case mCreated:
			m.Created, err = readTimeValue(v)
		case mOrigin:
			m.Origin = sharedBytes(v)
		case mSealed:
			m.Sealed = append([]byte(nil), v...)
		default:
			return m, errMalformedRecord
		}
	}
	if err == nil {
		err = rd.err
	}
	return m, err
}

// compactRecordState reads only the state of a compact record.
func compactRecordState(b []byte) (string, error) {
	if len(b) == 0 || b[0] != compactRecord {
		return "", errMalformedRecord
	}
	rd := fieldReader{b: b[1:]}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		if tag == fKeyState {
			return sharedBytes(v), nil
		}
	}
	return "", rd.err
}
