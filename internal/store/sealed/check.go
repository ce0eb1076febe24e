package sealed

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/kmsd/kmsd/internal/store"
)

// The check record lives in a bucket of its own that callers of Store
// cannot reach. It is not tagged itself: its check values are one-way
// functions of the root keys, which only the keyring can produce, and a
// changed store id makes every record fail, which an attacker with write
// access could cause anyway.
var (
	metaBucket = []byte("store-meta")
	checkKey   = []byte("root-keyring")
)

const (
	checkVersion = 1
	storeIDSize  = 16
)

// checkRecord is what a store keeps about the keyring that sealed it.
type checkRecord struct {
	Version  int              `json:"version"`
	StoreID  string           `json:"storeId"` // hex; bound into every record key
	RootKeys []checkKeyRecord `json:"rootKeys"`
}

type checkKeyRecord struct {
	ID         uint32 `json:"id"`
	CheckValue string `json:"checkValue"` // hex
}

// Fingerprint names a root key by its id and check value.
type Fingerprint struct {
	ID         uint32
	CheckValue []byte
}

func (f Fingerprint) String() string {
	return fmt.Sprintf("root key %d with fingerprint %x", f.ID, f.CheckValue)
}

func readCheck(t store.Tx) (*checkRecord, error) {
	b, err := t.Get(metaBucket, checkKey)
	if err != nil {
		return nil, err
	}
	var c checkRecord
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("store/sealed: the store's root keyring check record is unreadable: %w", err)
	}
	if c.Version != checkVersion {
		return nil, fmt.Errorf("store/sealed: the store's root keyring check record has version %d; this kmsd reads version %d", c.Version, checkVersion)
	}
	if id, err := hex.DecodeString(c.StoreID); err != nil || len(id) != storeIDSize {
		return nil, errors.New("store/sealed: the store's root keyring check record has a malformed store id")
	}
	return &c, nil
}

func writeCheck(t store.Tx, c *checkRecord) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return t.Put(metaBucket, checkKey, b)
}

func (c *checkRecord) storeID() []byte {
	id, _ := hex.DecodeString(c.StoreID) // validated by readCheck or made by newCheck
	return id
}

func (c *checkRecord) fingerprints() []Fingerprint {
	fps := make([]Fingerprint, 0, len(c.RootKeys))
	for _, k := range c.RootKeys {
		cv, _ := hex.DecodeString(k.CheckValue)
		fps = append(fps, Fingerprint{ID: k.ID, CheckValue: cv})
	}
	return fps
}

func newCheck() *checkRecord {
	id := make([]byte, storeIDSize)
	_, _ = rand.Read(id) // crypto/rand.Read never fails
	return &checkRecord{Version: checkVersion, StoreID: hex.EncodeToString(id)}
}

// keyringFingerprints returns the fingerprint of every key of ring.
func keyringFingerprints(ring Keyring) ([]Fingerprint, error) {
	var fps []Fingerprint
	for _, id := range ring.KeyIDs() {
		cv, err := ring.CheckValue(id)
		if err != nil {
			return nil, err
		}
		fps = append(fps, Fingerprint{ID: id, CheckValue: cv})
	}
	return fps, nil
}

// match reports whether found holds every expected root key, and adds to c
// the keys of found it does not record yet (keys added by a rotation).
func (c *checkRecord) match(found []Fingerprint) (ok, grew bool) {
	for _, want := range c.fingerprints() {
		i := slices.IndexFunc(found, func(f Fingerprint) bool { return f.ID == want.ID })
		if i < 0 || subtle.ConstantTimeCompare(found[i].CheckValue, want.CheckValue) != 1 {
			return false, false
		}
	}
	for _, f := range found {
		if !slices.ContainsFunc(c.RootKeys, func(k checkKeyRecord) bool { return k.ID == f.ID }) {
			c.RootKeys = append(c.RootKeys, checkKeyRecord{ID: f.ID, CheckValue: hex.EncodeToString(f.CheckValue)})
			grew = true
		}
	}
	return true, grew
}

// isEmpty reports whether the store holds no record in any bucket.
func isEmpty(t store.Tx) (bool, error) {
	names, err := buckets(t)
	if err != nil {
		return false, err
	}
	for _, b := range names {
		kvs, err := t.Scan(b, nil, nil, 1)
		if err != nil {
			return false, err
		}
		if len(kvs) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// bucketLister is implemented by a backend's Tx that can name its buckets
// (bbolt's does). Only adoption and the emptiness test need it.
type bucketLister interface {
	Buckets() ([][]byte, error)
}

func buckets(t store.Tx) ([][]byte, error) {
	l, ok := t.(bucketLister)
	if !ok {
		return nil, errors.New("store/sealed: this store backend cannot list its buckets, so an existing store cannot be checked or adopted")
	}
	return l.Buckets()
}
