package kms

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// Buckets of grants. "grants" holds the records, partition | key id / grant
// id, so a key's grants scan together in id order; the other two index them.
var (
	bucketGrants         = []byte("grants")
	bucketGrantNames     = []byte("grantnames")     // partition | key id / name 0x00 grant id
	bucketGrantsRetiring = []byte("grantsretiring") // region / retiring principal 0x00 partition | key id / grant id
)

// grantRecord is the stored form of a grant. TokenKey is sealed.
type grantRecord struct {
	Schema    int       `json:"schema"`
	GrantID   string    `json:"grantId"`
	KeyID     string    `json:"keyId"`
	AccountID string    `json:"accountId"` // the key's account
	Region    string    `json:"region"`
	Name      string    `json:"name,omitempty"`
	Created   time.Time `json:"created"`
	// Grantee and Retiring are principal ARNs, or service principals when
	// the matching *Service flag is set.
	Grantee         string `json:"grantee"`
	GranteeService  bool   `json:"granteeService,omitempty"`
	Retiring        string `json:"retiring,omitempty"`
	RetiringService bool   `json:"retiringService,omitempty"`
	// IssuingAccount is the root ARN of the account that created the grant.
	IssuingAccount string   `json:"issuingAccount"`
	Operations     []string `json:"operations"`
	// Constraint is "", constraintEquals or constraintSubset; Context holds
	// its pairs (possibly none).
	Constraint string            `json:"constraint,omitempty"`
	Context    map[string]string `json:"context,omitempty"`
	SourceArn  string            `json:"sourceArn,omitempty"`
	TokenKey   []byte            `json:"tokenKey"`
}

// Store layout of grants. A key's grants sort together, by id; the name
// and retiring-principal indexes point at them.
func grantPrefix(part, keyID string) []byte { return []byte(part + keyID + "/") }

func grantKey(r *grantRecord) []byte {
	return []byte(partition(r.AccountID, r.Region) + r.KeyID + "/" + r.GrantID)
}

func grantNamePrefix(part, keyID, name string) []byte {
	return []byte(part + keyID + "/" + name + "\x00")
}

// retirablePrefix groups a Region's grants by retiring principal, across
// accounts, for ListRetirableGrants.
func retirablePrefix(region, principal string) []byte {
	return []byte(region + "/" + principal + "\x00")
}

func retirableKey(r *grantRecord) []byte {
	return append(retirablePrefix(r.Region, r.Retiring), grantKey(r)...)
}

func grantCounterKey(part, keyID string) []byte { return []byte(part + "grants/" + keyID) }

func decodeGrant(b []byte) (*grantRecord, error) {
	var r grantRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode grant record: %w", err)
	}
	return &r, nil
}

func loadGrant(tx store.Tx, part, keyID, grantID string) (*grantRecord, error) {
	b, err := tx.Get(bucketGrants, []byte(part+keyID+"/"+grantID))
	if err != nil {
		return nil, err
	}
	return decodeGrant(b)
}

// loadGrants reads all grants of a key, in id order.
func loadGrants(tx store.Tx, part, keyID string) ([]*grantRecord, error) {
	kvs, err := tx.Scan(bucketGrants, grantPrefix(part, keyID), nil, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*grantRecord, 0, len(kvs))
	for _, kv := range kvs {
		r, err := decodeGrant(kv.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// putGrant stores a new grant with its indexes and counts it.
func putGrant(tx store.Tx, r *grantRecord) error {
	r.Schema = recordSchema
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode grant %s: %w", r.GrantID, err)
	}
	part := partition(r.AccountID, r.Region)
	if err := tx.Put(bucketGrants, grantKey(r), b); err != nil {
		return err
	}
	if r.Name != "" {
		if err := tx.Put(bucketGrantNames, append(grantNamePrefix(part, r.KeyID, r.Name), r.GrantID...), nil); err != nil {
			return err
		}
	}
	if r.Retiring != "" {
		if err := tx.Put(bucketGrantsRetiring, retirableKey(r), nil); err != nil {
			return err
		}
	}
	return addCounter(tx, grantCounterKey(part, r.KeyID), 1)
}

// deleteGrant removes a grant, its indexes and its count.
func deleteGrant(tx store.Tx, r *grantRecord) error {
	part := partition(r.AccountID, r.Region)
	if err := tx.Delete(bucketGrants, grantKey(r)); err != nil {
		return err
	}
	if r.Name != "" {
		if err := tx.Delete(bucketGrantNames, append(grantNamePrefix(part, r.KeyID, r.Name), r.GrantID...)); err != nil {
			return err
		}
	}
	if r.Retiring != "" {
		if err := tx.Delete(bucketGrantsRetiring, retirableKey(r)); err != nil {
			return err
		}
	}
	return addCounter(tx, grantCounterKey(part, r.KeyID), -1)
}

// deleteKeyGrants removes every grant of a key; deleting the key calls it.
func deleteKeyGrants(tx store.Tx, part, keyID string) error {
	recs, err := loadGrants(tx, part, keyID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := deleteGrant(tx, r); err != nil {
			return err
		}
	}
	return tx.Delete(bucketCounters, grantCounterKey(part, keyID))
}

func addCounter(tx store.Tx, k []byte, d int64) error {
	n, err := counter(tx, k)
	if err != nil {
		return err
	}
	if n += d; n <= 0 {
		return tx.Delete(bucketCounters, k)
	}
	return putCounter(tx, k, n)
}
