package kms

import (
	"encoding/json"
	"fmt"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// A configured token belongs to one account, as a CloudHSM cluster does in
// AWS, and backs at most one key store in the whole server: otherwise one
// tenant could open a store on another's token, try its PIN, lock its user
// out or make keys in it.

// cluster returns the configured token id names if it belongs to account.
func (m *cksManager) cluster(account, id string) HSMCluster {
	b := m.get()
	if b.HSM == nil {
		return nil
	}
	cl, ok := b.HSM.Cluster(id)
	if !ok || cl.Account() == "" || cl.Account() != account {
		return nil
	}
	return cl
}

// checkClusterFree refuses rec's cluster when another store, of any account
// and Region, is associated with it.
func checkClusterFree(tx store.Tx, rec *keyStoreRecord) error {
	if rec.Type != typeCloudHSM {
		return nil
	}
	var after []byte
	for {
		kvs, err := tx.Scan(bucketKeyStores, nil, after, 500)
		if err != nil || len(kvs) == 0 {
			return err
		}
		for _, kv := range kvs {
			var o keyStoreRecord
			if err := json.Unmarshal(kv.Value, &o); err != nil {
				return fmt.Errorf("decode key store %s: %w", kv.Key, err)
			}
			if o.Type == typeCloudHSM && o.ClusterID == rec.ClusterID && string(kv.Key) != string(rec.key()) {
				// The other store may be another tenant's: its id is not told.
				return kmserr.New(errClusterInUse, "The request was rejected because the specified AWS CloudHSM cluster is already associated with an AWS CloudHSM key store. Each AWS CloudHSM key store must be associated with a different AWS CloudHSM cluster.")
			}
		}
		after = kvs[len(kvs)-1].Key
	}
}
