package kms

import (
	"bytes"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The cache's miss path decodes a key record for nearly every request on a
// store of many more keys than the cache holds. Most of a record's text is
// the same in most records: the key policy (the default one, a few hundred
// escaped bytes), the account, the Region and the spec, usage, origin,
// manager and state. decodeKeyRecord looks those members up by their raw
// JSON text in a table of shared copies, so a miss on a key like most
// others neither unescapes nor allocates them. It reads the members every
// record has itself, with jsontext, and leaves the rest to json/v2.

// keyRecordUnmarshal makes json.Unmarshal read a *keyRecord member by
// member (decodeRecordObject); the members it does not handle itself it
// hands back to json/v2 with these options, which reach no other type.
var keyRecordUnmarshal = json.WithUnmarshalers(json.UnmarshalFromFunc(decodeRecordObject))

// decodeKeyRecord reads a stored key record in either form: compact
// (record_codec.go) or JSON, as written before store schema version 5.
func decodeKeyRecord(b []byte) (*keyRecord, error) {
	if IsCompactKeyRecord(b) {
		return decodeCompactRecord(b)
	}
	var r keyRecord
	if err := json.Unmarshal(b, &r, keyRecordUnmarshal); err != nil {
		return nil, err
	}
	for i := range r.Materials {
		if m := &r.Materials[i]; m.ID == r.CurrentMaterial {
			r.CurrentMaterial = m.ID // one copy of the 64-character id
		}
	}
	return &r, nil
}

// decodeRecordObject reads one key record object into r.
func decodeRecordObject(dec *jsontext.Decoder, r *keyRecord) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '{':
	default:
		return errors.New("a key record is not a JSON object")
	}
	for dec.PeekKind() != '}' {
		name, err := readName(dec)
		if err != nil {
			return err
		}
		var shared *string
		switch string(name) {
		case "accountId":
			shared = &r.AccountID
		case "region":
			shared = &r.Region
		case "keyUsage":
			shared = &r.KeyUsage
		case "keySpec":
			shared = &r.KeySpec
		case "origin":
			shared = &r.Origin
		case "keyManager":
			shared = &r.KeyManager
		case "keyState":
			shared = &r.KeyState
		case "policy":
			shared = &r.Policy
		case "primaryRegion":
			shared = &r.PrimaryRegion
		case "customKeyStoreId":
			shared = &r.CustomKeyStoreID
		default:
			if err := decodeRecordMember(dec, r, name); err != nil {
				return err
			}
			continue
		}
		if err := readSharedString(dec, shared); err != nil {
			return err
		}
	}
	_, err = dec.ReadToken()
	return err
}

// readName reads an object member's name. encoding/json writes names as
// they are, so the name is read where the decoder holds it; one with an
// escape is still read by what it says.
func readName(dec *jsontext.Decoder) ([]byte, error) {
	raw, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	return unquoteBytes(raw)
}

// decodeRecordMember reads the value of any other member into its field,
// and skips a member keyRecord does not have, as encoding/json does. It
// reads the strings, the creation time and the materials itself, and
// hands the numbers, flags and the rarer lists to json/v2.
func decodeRecordMember(dec *jsontext.Decoder, r *keyRecord, name []byte) error {
	var v any
	switch string(name) {
	case "keyId":
		return readString(dec, &r.KeyID)
	case "description":
		return readString(dec, &r.Description)
	case "currentMaterial":
		return readString(dec, &r.CurrentMaterial)
	case "created":
		return readTime(dec, &r.Created)
	case "schema":
		v = &r.Schema
	case "awsManagedAlias":
		v = &r.AWSManagedAlias
	case "deletionDate":
		v = &r.DeletionDate
	case "pendingWindowDays":
		v = &r.PendingWindowDays
	case "multiRegion":
		v = &r.MultiRegion
	case "policyPrincipals":
		v = &r.PolicyPrincipals
	case "tags":
		v = &r.Tags
	case "materials":
		return readMaterials(dec, &r.Materials)
	case "rotationEnabled":
		v = &r.RotationEnabled
	case "rotationPeriodDays":
		v = &r.RotationPeriodDays
	case "nextRotation":
		v = &r.NextRotation
	case "rotations":
		v = &r.Rotations
	case "replicaRegions":
		v = &r.ReplicaRegions
	case "imports":
		v = &r.Imports
	case "xksKeyId":
		v = &r.XksKeyID
	default:
		return dec.SkipValue()
	}
	return json.UnmarshalDecode(dec, v)
}

// readMaterials reads a record's materials: nearly every key has one.
func readMaterials(dec *jsontext.Decoder, ms *[]materialRecord) error {
	if dec.PeekKind() != '[' {
		return json.UnmarshalDecode(dec, ms)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	out := make([]materialRecord, 0, 1) // [] is an empty slice, not nil, as in encoding/json
	for dec.PeekKind() != ']' {
		out = append(out, materialRecord{})
		if err := readMaterial(dec, &out[len(out)-1]); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*ms = out
	return nil
}

func readMaterial(dec *jsontext.Decoder, m *materialRecord) error {
	if dec.PeekKind() != '{' {
		return json.UnmarshalDecode(dec, m)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := readName(dec)
		if err != nil {
			return err
		}
		switch string(name) {
		case "id":
			err = readString(dec, &m.ID)
		case "created":
			err = readTime(dec, &m.Created)
		case "origin":
			err = readSharedString(dec, &m.Origin)
		case "sealed":
			err = readBase64(dec, &m.Sealed)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// rawString reads the next value: its raw text if it is a JSON string,
// or else into v with json/v2, and then ok is false.
func rawString[T any](dec *jsontext.Decoder, v *T) (raw jsontext.Value, ok bool, err error) {
	if dec.PeekKind() != '"' {
		return nil, false, json.UnmarshalDecode(dec, v)
	}
	raw, err = dec.ReadValue()
	return raw, err == nil, err
}

// readBase64 reads a JSON string of standard padded base64 into *b, as
// encoding/json reads a []byte; anything else goes to json/v2.
func readBase64(dec *jsontext.Decoder, b *[]byte) error {
	raw, ok, err := rawString(dec, b)
	if !ok {
		return err
	}
	if bytes.IndexByte(raw, '\\') >= 0 {
		return json.Unmarshal(raw, b)
	}
	enc := raw[1 : len(raw)-1]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(out, enc)
	if err != nil {
		return err
	}
	*b = out[:n]
	return nil
}

// readString reads a JSON string into *s; anything else goes to json/v2.
func readString(dec *jsontext.Decoder, s *string) error {
	raw, ok, err := rawString(dec, s)
	if !ok {
		return err
	}
	*s, err = unquote(raw)
	return err
}

// readTime reads a JSON string into *t as time.Time's UnmarshalJSON does
// (RFC 3339); anything else goes to json/v2.
func readTime(dec *jsontext.Decoder, t *time.Time) error {
	raw, ok, err := rawString(dec, t)
	if !ok {
		return err
	}
	if bytes.IndexByte(raw, '\\') >= 0 {
		return json.Unmarshal(raw, t)
	}
	return t.UnmarshalText(raw[1 : len(raw)-1])
}

func unquote(raw []byte) (string, error) {
	b, err := unquoteBytes(raw)
	return string(b), err
}

// unquoteBytes returns what the JSON string raw says: the text between
// its quotes when it has no escape, else a new unescaped copy.
func unquoteBytes(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	return jsontext.AppendUnquote(nil, raw)
}

// readSharedString reads a JSON string into *s from sharedText: its raw
// text is looked up before anything is unescaped or allocated. A null
// leaves the new record's member empty, as encoding/json does.
func readSharedString(dec *jsontext.Decoder, s *string) error {
	raw, ok, err := rawString(dec, s)
	if !ok {
		return err
	}
	if v, ok := sharedText.lookup(raw); ok {
		*s = v
		return nil
	}
	text, err := unquote(raw)
	if err != nil {
		return err
	}
	*s = sharedText.add(raw, text)
	return nil
}

// sharedText holds the decoded strings of the record members most keys
// share, keyed by their raw JSON text (quotes and escapes included). It
// keeps what it is given up to sharedTextMax bytes. Past that, a short
// string it does not hold is still shared, through unique.Make, and a
// long one (a policy) is a copy of its own, as before there was a table;
// the parsed policy table (cache_policy.go) still shares it in the cache.
var sharedText = &textTable{m: make(map[string]string)}

const (
	sharedTextMax = 4 << 20
	// shortText is the longest string shared past sharedTextMax: an
	// account, a Region, a spec, a state, a custom key store id.
	shortText = 64
)

type textTable struct {
	mu   sync.RWMutex
	m    map[string]string
	size int
	full atomic.Bool // set once an add found no room: no more adds lock
}

func (t *textTable) lookup(raw []byte) (string, bool) {
	t.mu.RLock()
	s, ok := t.m[string(raw)] // no copy: a map index by a converted []byte
	t.mu.RUnlock()
	return s, ok
}

// add keeps text under raw if there is room, and returns the copy to use:
// the one already kept under raw if another caller added it first.
func (t *textTable) add(raw []byte, text string) string {
	if !t.full.Load() {
		t.mu.Lock()
		kept, ok := t.m[string(raw)]
		switch {
		case ok:
		case t.size+len(raw)+len(text) <= sharedTextMax:
			t.m[string(raw)] = text
			t.size += len(raw) + len(text)
			kept, ok = text, true
		default:
			t.full.Store(true)
		}
		t.mu.Unlock()
		if ok {
			return kept
		}
	}
	if len(text) <= shortText {
		return unique.Make(text).Value()
	}
	return text
}
