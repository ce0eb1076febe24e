package kms

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// ownedCluster is a configured token of one account whose every login
// fails; it counts the logins that reach it.
type ownedCluster struct {
	owner  string
	logins atomic.Int32
}

func (c *ownedCluster) Account() string     { return c.owner }
func (c *ownedCluster) TrustAnchor() string { return "" }
func (c *ownedCluster) Login([]byte) (HSMToken, error) {
	c.logins.Add(1)
	return nil, &BackendError{Failure: FailCredentials, Err: errors.New("CKR_PIN_INCORRECT")}
}

type ownedClusters map[string]*ownedCluster

func (m ownedClusters) Cluster(id string) (HSMCluster, bool) {
	c, ok := m[id]
	return c, ok
}

// TestHSMClusterBelongsToOneAccount: a configured cluster is another
// account's as much as a cluster that does not exist (same exception and
// message); a store another account made on it before clusters had owners
// never reaches its token; and a cluster backs one store in the whole
// server, whatever the account and Region.
func TestHSMClusterBelongsToOneAccount(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const owner, other, cluster = "111122223333", "444455556666", "cluster-234567aaaaa"
	token := &ownedCluster{owner: owner}
	h.svc.SetKeyStoreBackends(KeyStoreBackends{HSM: ownedClusters{cluster: token}})
	t.Cleanup(h.svc.CloseKeyStores)
	as := func(account, region string) *Call { return &Call{Caller: RootCaller(account, region)} }
	create := func(c *Call, name, id string) (*kmsapi.CreateCustomKeyStoreOutput, error) {
		return h.svc.CreateCustomKeyStore(ctx, c, &kmsapi.CreateCustomKeyStoreInput{CustomKeyStoreName: name, CloudHsmClusterId: id,
			TrustAnchorCertificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", KeyStorePassword: "guess-0001"})
	}

	_, errOwned := create(as(other, "us-east-1"), "b", cluster)
	_, errMissing := create(as(other, "us-east-1"), "b", "cluster-234567zzzzz")
	eo, em := kmserr.As(errOwned), kmserr.As(errMissing)
	if eo == nil || em == nil || eo.Code != errClusterNotFound || em.Code != errClusterNotFound || eo.Message != em.Message {
		t.Fatalf("another account's cluster: %v; a cluster that does not exist: %v", errOwned, errMissing)
	}

	// A store of the other account on the owner's cluster, as one made
	// before clusters belonged to accounts.
	legacy := &keyStoreRecord{ID: newKeyStoreID(), AccountID: other, Region: "us-east-1", Name: "b", Type: typeCloudHSM,
		Created: h.clock.Now(), State: connDisconnected, ClusterID: cluster}
	var err error
	if legacy.SealedPassword, err = h.svc.sealStoreSecret(legacy, "password", []byte("guess-0001")); err != nil {
		t.Fatal(err)
	}
	if err := h.st.Update(ctx, func(tx store.Tx) error { return putKeyStore(tx, legacy) }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.ConnectCustomKeyStore(ctx, as(other, "us-east-1"), &kmsapi.ConnectCustomKeyStoreInput{CustomKeyStoreId: legacy.ID}); err != nil {
		t.Fatal(err)
	}
	var e kmsapi.CustomKeyStoresListEntry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d, err := h.svc.DescribeCustomKeyStores(ctx, as(other, "us-east-1"), &kmsapi.DescribeCustomKeyStoresInput{CustomKeyStoreId: legacy.ID})
		if err != nil {
			t.Fatal(err)
		}
		if e = d.CustomKeyStores[0]; string(e.ConnectionState) != connConnecting || time.Now().After(deadline) {
			break
		}
	}
	if string(e.ConnectionState) != connFailed || e.ConnectionErrorCode != "CLUSTER_NOT_FOUND" || token.logins.Load() != 0 {
		t.Fatalf("the other account's store is %s (%s) after %d logins to the owner's token", e.ConnectionState, e.ConnectionErrorCode, token.logins.Load())
	}

	// While that store exists, the cluster is in use for its owner too,
	// and the answer does not name the other tenant's store.
	_, err = create(as(owner, "us-west-2"), "a", cluster)
	if ke := kmserr.As(err); ke == nil || ke.Code != errClusterInUse || strings.Contains(ke.Message, legacy.ID) {
		t.Fatalf("cluster used by another account's store: %v", err)
	}
	for _, op := range []func() error{
		func() error {
			_, err := h.svc.DisconnectCustomKeyStore(ctx, as(other, "us-east-1"), &kmsapi.DisconnectCustomKeyStoreInput{CustomKeyStoreId: legacy.ID})
			return err
		},
		func() error {
			_, err := h.svc.DeleteCustomKeyStore(ctx, as(other, "us-east-1"), &kmsapi.DeleteCustomKeyStoreInput{CustomKeyStoreId: legacy.ID})
			return err
		},
		func() error { _, err := create(as(owner, "us-east-1"), "a", cluster); return err },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	// One store per cluster across Regions of the same account.
	_, err = create(as(owner, "us-west-2"), "a", cluster)
	if kmserr.CodeOf(err) != errClusterInUse {
		t.Fatalf("the cluster of a store in another Region: %v", err)
	}
}
