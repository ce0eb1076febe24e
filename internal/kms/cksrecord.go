package kms

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// bucketKeyStores holds custom key store records: partition | store id.
var bucketKeyStores = []byte("customkeystores")

const (
	typeCloudHSM = string(kmsapi.CustomKeyStoreTypeAWSCloudhsm)
	typeXKS      = string(kmsapi.CustomKeyStoreTypeExternalKeyStore)

	connConnected     = string(kmsapi.ConnectionStateTypeConnected)
	connConnecting    = string(kmsapi.ConnectionStateTypeConnecting)
	connFailed        = string(kmsapi.ConnectionStateTypeFailed)
	connDisconnected  = string(kmsapi.ConnectionStateTypeDisconnected)
	connDisconnecting = string(kmsapi.ConnectionStateTypeDisconnecting)

	originCloudHSM = string(kmsapi.OriginTypeAWSCloudhsm)
	originXKS      = string(kmsapi.OriginTypeExternalKeyStore)

	// keyStoresPerAccount is AWS's quota of custom key stores per account
	// and Region.
	keyStoresPerAccount = 10
)

// keyStoreRecord is the stored form of a custom key store. The token PIN
// and the proxy secret are kept sealed under the root.
type keyStoreRecord struct {
	Schema    int       `json:"schema"`
	ID        string    `json:"id"`
	AccountID string    `json:"accountId"`
	Region    string    `json:"region"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Created   time.Time `json:"created"`
	State     string    `json:"state"`
	ErrorCode string    `json:"errorCode,omitempty"`
	// Attempt counts connection attempts; a finishing attempt writes its
	// result only if no later Connect or Disconnect came in between.
	Attempt uint64 `json:"attempt"`

	ClusterID      string `json:"clusterId,omitempty"`
	TrustAnchor    string `json:"trustAnchor,omitempty"`
	SealedPassword []byte `json:"sealedPassword,omitempty"`

	XksEndpoint     string `json:"xksEndpoint,omitempty"`
	XksPath         string `json:"xksPath,omitempty"`
	XksConnectivity string `json:"xksConnectivity,omitempty"`
	XksVpcService   string `json:"xksVpcService,omitempty"`
	XksVpcOwner     string `json:"xksVpcOwner,omitempty"`
	XksAccessKeyID  string `json:"xksAccessKeyId,omitempty"`
	SealedSecret    []byte `json:"sealedSecret,omitempty"`
}

func (r *keyStoreRecord) partition() string { return partition(r.AccountID, r.Region) }
func (r *keyStoreRecord) key() []byte       { return []byte(r.partition() + r.ID) }

// newKeyStoreID is AWS's form: "cks-" and 17 hex digits.
func newKeyStoreID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "cks-" + hex.EncodeToString(b)[:17]
}

// keyStoreSecretAAD binds a sealed store secret to its store and field.
func keyStoreSecretAAD(part, id, field string) []byte {
	return []byte("kmsd/keystore/v1|" + part + "|" + id + "|" + field)
}

func (s *Service) sealStoreSecret(r *keyStoreRecord, field string, v []byte) ([]byte, error) {
	sealed, err := s.sealer.Seal(secret.Bytes(v), keyStoreSecretAAD(r.partition(), r.ID, field))
	if err != nil {
		return nil, fmt.Errorf("seal %s of %s: %w", field, r.ID, err)
	}
	return sealed, nil
}

func (s *Service) unsealStoreSecret(r *keyStoreRecord, field string, sealed []byte) (secret.Bytes, error) {
	v, err := s.sealer.Unseal(sealed, keyStoreSecretAAD(r.partition(), r.ID, field))
	if err != nil {
		return nil, fmt.Errorf("unseal %s of %s: %w", field, r.ID, err)
	}
	return v, nil
}

func loadKeyStore(tx store.Tx, account, region, id string) (*keyStoreRecord, error) {
	b, err := tx.Get(bucketKeyStores, []byte(partition(account, region)+id))
	if err != nil {
		return nil, err
	}
	var r keyStoreRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode key store %s: %w", id, err)
	}
	return &r, nil
}

func putKeyStore(tx store.Tx, r *keyStoreRecord) error {
	r.Schema = recordSchema
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketKeyStores, r.key(), b)
}

// listKeyStores returns every store of a partition, ordered by id.
func listKeyStores(tx store.Tx, account, region string) ([]*keyStoreRecord, error) {
	kvs, err := tx.Scan(bucketKeyStores, []byte(partition(account, region)), nil, 0)
	if err != nil {
		return nil, err
	}
	out := make([]*keyStoreRecord, 0, len(kvs))
	for _, kv := range kvs {
		var r keyStoreRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode key store %s: %w", kv.Key, err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// entry renders a record as DescribeCustomKeyStores lists it: never a
// secret, the proxy's access key id as AWS shows it.
func (r *keyStoreRecord) entry() kmsapi.CustomKeyStoresListEntry {
	e := kmsapi.CustomKeyStoresListEntry{
		CustomKeyStoreId:   r.ID,
		CustomKeyStoreName: r.Name,
		CustomKeyStoreType: kmsapi.CustomKeyStoreType(r.Type),
		ConnectionState:    kmsapi.ConnectionStateType(r.State),
		CreationDate:       kmsapi.Time(r.Created),
	}
	if r.State == connFailed {
		e.ConnectionErrorCode = kmsapi.ConnectionErrorCodeType(r.ErrorCode)
	}
	if r.Type == typeCloudHSM {
		e.CloudHsmClusterId, e.TrustAnchorCertificate = r.ClusterID, r.TrustAnchor
		return e
	}
	e.XksProxyConfiguration = &kmsapi.XksProxyConfigurationType{
		Connectivity:            kmsapi.XksProxyConnectivityType(r.XksConnectivity),
		AccessKeyId:             r.XksAccessKeyID,
		UriEndpoint:             r.XksEndpoint,
		UriPath:                 r.XksPath,
		VpcEndpointServiceName:  r.XksVpcService,
		VpcEndpointServiceOwner: r.XksVpcOwner,
	}
	return e
}
