package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Buckets of the store. Keys in "keys" and "aliases" start with the
// partition (account/region/), so one account's data scans contiguously.
var (
	bucketKeys      = []byte("keys")
	bucketAliases   = []byte("aliases")
	bucketDeletions = []byte("deletions") // due time (8 bytes BE unix nanos) | partition | key id
	bucketRotations = []byte("rotations") // next automatic rotation (8 bytes BE unix nanos) | partition | key id
	// bucketKeyAliases indexes "aliases" by target: partition | key id |
	// "/" | alias name → the alias name. Finding a key's aliases (on every
	// cache miss, for kms:ResourceAliases) then reads that key's entries
	// instead of every alias of its account and Region.
	bucketKeyAliases = []byte("key-aliases")
	// Each key's last cryptographic use (partition | key id → the use) is
	// in keyuse.BucketLastUsage, beside the other lastusage-* buckets that
	// package keyuse keeps.
)

const recordSchema = 1

// keyRecord is the stored form of a KMS key. Material is kept sealed.
type keyRecord struct {
	Schema            int        `json:"schema"`
	KeyID             string     `json:"keyId"`
	AccountID         string     `json:"accountId"`
	Region            string     `json:"region"`
	Description       string     `json:"description"`
	KeyUsage          string     `json:"keyUsage"`
	KeySpec           string     `json:"keySpec"`
	Origin            string     `json:"origin"`
	KeyManager        string     `json:"keyManager"`
	AWSManagedAlias   string     `json:"awsManagedAlias,omitempty"` // the predefined alias of an AWS managed key (managed.go)
	KeyState          string     `json:"keyState"`
	Created           time.Time  `json:"created"`
	DeletionDate      *time.Time `json:"deletionDate,omitempty"`
	PendingWindowDays int32      `json:"pendingWindowDays,omitempty"`
	// MultiRegion sits beside a 4-byte field: the record packs into a
	// smaller allocation, and the cache holds one per key.
	MultiRegion      bool             `json:"multiRegion"`
	Policy           string           `json:"policy"`
	PolicyPrincipals []boundPrincipal `json:"policyPrincipals,omitempty"` // principals.go
	Tags             []tagRecord      `json:"tags,omitempty"`
	Materials        []materialRecord `json:"materials"`
	CurrentMaterial  string           `json:"currentMaterial"`
	// Automatic rotation (rotation.go). NextRotation is set exactly when
	// RotationEnabled is, and bucketRotations holds one entry for it.
	RotationEnabled    bool             `json:"rotationEnabled,omitempty"`
	RotationPeriodDays int32            `json:"rotationPeriodDays,omitempty"`
	NextRotation       *time.Time       `json:"nextRotation,omitempty"`
	Rotations          []rotationRecord `json:"rotations,omitempty"`
	// A multi-Region key's related keys (multiregion.go): the primary's
	// Region and every replica's, the same in each related record; every
	// change to them writes all related records in one transaction.
	PrimaryRegion  string   `json:"primaryRegion,omitempty"`
	ReplicaRegions []string `json:"replicaRegions,omitempty"`
	// Materials imported into an EXTERNAL key, in import order (import.go).
	Imports []importRecord `json:"imports,omitempty"`
	// The custom key store of an AWS_CLOUDHSM or EXTERNAL_KEY_STORE key,
	// and the external key of the latter (ckskeys.go).
	CustomKeyStoreID string `json:"customKeyStoreId,omitempty"`
	XksKeyID         string `json:"xksKeyId,omitempty"`
}

type tagRecord struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// materialRecord is one version of a key's material, sealed under the root
// with AAD naming the partition, key and version (see materialAAD).
type materialRecord struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Origin  string    `json:"origin"`
	Sealed  []byte    `json:"sealed"`
}

type aliasRecord struct {
	Name        string    `json:"name"`
	TargetKeyID string    `json:"targetKeyId"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

func partition(account, region string) string { return account + "/" + region + "/" }

func keyKey(account, region, keyID string) []byte {
	return []byte(partition(account, region) + keyID)
}

func aliasKey(account, region, name string) []byte {
	return []byte(partition(account, region) + name)
}

func (r *keyRecord) partition() string { return partition(r.AccountID, r.Region) }

func (r *keyRecord) arn() string { return keyARN(r.Region, r.AccountID, r.KeyID) }

func keyARN(region, account, keyID string) string {
	return "arn:" + arnPartition(region) + ":kms:" + region + ":" + account + ":key/" + keyID
}

func aliasARN(region, account, name string) string {
	return "arn:" + arnPartition(region) + ":kms:" + region + ":" + account + ":" + name
}

// arnPartition returns the ARN partition of a Region: aws-cn for the China
// Regions, aws-us-gov for GovCloud, aws otherwise.
func arnPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// materialAAD binds sealed material to its key and version, so a sealed blob
// copied onto another key (or another version) does not unseal.
func materialAAD(part, keyID, materialID string) []byte {
	return []byte("kmsd/material/v1|" + part + "|" + keyID + "|" + materialID)
}

func loadKey(tx store.Tx, account, region, keyID string) (*keyRecord, error) {
	b, err := tx.Get(bucketKeys, keyKey(account, region, keyID))
	if err != nil {
		return nil, err
	}
	r, err := decodeKeyRecord(b)
	if err != nil {
		return nil, fmt.Errorf("decode key record %s: %w", keyID, err)
	}
	return r, nil
}

// putKey stores r and keeps the count of its partition's keys by state:
// it reads the state stored before, whatever the caller loaded.
func putKey(tx store.Tx, r *keyRecord) error {
	r.Schema = recordSchema
	b, err := encodeKeyRecord(r)
	if err != nil {
		return fmt.Errorf("encode key record %s: %w", r.KeyID, err)
	}
	k := keyKey(r.AccountID, r.Region, r.KeyID)
	was, err := storedState(tx, k)
	if err != nil {
		return err
	}
	if was != r.KeyState {
		if was != "" {
			if err := countState(tx, r.partition(), was, -1); err != nil {
				return err
			}
		}
		if err := countState(tx, r.partition(), r.KeyState, 1); err != nil {
			return err
		}
	}
	return tx.Put(bucketKeys, k, b)
}

func loadAlias(tx store.Tx, account, region, name string) (*aliasRecord, error) {
	b, err := tx.Get(bucketAliases, aliasKey(account, region, name))
	if err != nil {
		return nil, err
	}
	var a aliasRecord
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("decode alias %s: %w", name, err)
	}
	return &a, nil
}

// keyAliasKey is the "key-aliases" entry of alias name on keyID. Key ids
// hold no "/", so one key's entries never share a prefix with another's.
func keyAliasKey(account, region, keyID, name string) []byte {
	return []byte(partition(account, region) + keyID + "/" + name)
}

// putAlias writes an alias and keeps its key's index entry: an alias
// that moves leaves its old key's entries.
func putAlias(tx store.Tx, account, region string, a *aliasRecord) error {
	old, err := loadAlias(tx, account, region, a.Name)
	switch {
	case err == nil && old.TargetKeyID != a.TargetKeyID:
		if err := tx.Delete(bucketKeyAliases, keyAliasKey(account, region, old.TargetKeyID, a.Name)); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := tx.Put(bucketKeyAliases, keyAliasKey(account, region, a.TargetKeyID, a.Name), []byte(a.Name)); err != nil {
		return err
	}
	return tx.Put(bucketAliases, aliasKey(account, region, a.Name), b)
}

// deleteAlias removes the alias name, which points at keyID, and its
// index entry.
func deleteAlias(tx store.Tx, account, region, keyID, name string) error {
	if err := tx.Delete(bucketKeyAliases, keyAliasKey(account, region, keyID, name)); err != nil {
		return err
	}
	return tx.Delete(bucketAliases, aliasKey(account, region, name))
}

// keyAliasNames returns the names of the aliases of keyID, in byte order.
func keyAliasNames(tx store.Tx, account, region, keyID string) ([]string, error) {
	prefix := keyAliasKey(account, region, keyID, "")
	kvs, err := tx.Scan(bucketKeyAliases, prefix, nil, 0)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		names = append(names, string(kv.Key[len(prefix):]))
	}
	return names, nil
}

// IndexAliasesByKey is the store migration that writes the "key-aliases"
// entry of every alias a store already holds.
func IndexAliasesByKey(_ context.Context, tx store.Tx) error {
	kvs, err := tx.Scan(bucketAliases, nil, nil, 0)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var a aliasRecord
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return fmt.Errorf("decode alias record %q: %w", kv.Key, err)
		}
		part := string(kv.Key[:len(kv.Key)-len(a.Name)])
		if !strings.HasSuffix(string(kv.Key), a.Name) || strings.Count(part, "/") != 2 {
			return fmt.Errorf("alias record %q names another alias, %q", kv.Key, a.Name)
		}
		if err := tx.Put(bucketKeyAliases, []byte(part+a.TargetKeyID+"/"+a.Name), []byte(a.Name)); err != nil {
			return err
		}
	}
	return nil
}

// newMaterial generates and seals a fresh symmetric material version.
func (s *Service) newMaterial(part, keyID string, material secret.Bytes, id keys.MaterialID, origin string) (materialRecord, error) {
	sealed, err := s.sealer.Seal(material, materialAAD(part, keyID, id.String()))
	if err != nil {
		return materialRecord{}, fmt.Errorf("seal material of %s: %w", keyID, err)
	}
	return materialRecord{ID: id.String(), Created: s.now(), Origin: origin, Sealed: sealed}, nil
}

func (r *keyRecord) tagMap() map[string]string {
	if len(r.Tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(r.Tags))
	for _, t := range r.Tags {
		m[t.Key] = t.Value
	}
	return m
}

func deletionKey(due time.Time, part, keyID string) []byte {
	b := make([]byte, 8, 8+len(part)+len(keyID))
	n := uint64(due.UnixNano())
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return append(append(b, part...), keyID...)
}
