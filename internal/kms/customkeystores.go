package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// Exceptions of the custom key store operations, as the model names them.
const (
	errKeyStoreNameInUse     = "CustomKeyStoreNameInUseException"
	errKeyStoreInvalidState  = "CustomKeyStoreInvalidStateException"
	errKeyStoreHasCMKs       = "CustomKeyStoreHasCMKsException"
	errClusterNotFound       = "CloudHsmClusterNotFoundException"
	errClusterInUse          = "CloudHsmClusterInUseException"
	errClusterNotRelated     = "CloudHsmClusterNotRelatedException"
	errIncorrectTrustAnchor  = "IncorrectTrustAnchorException"
	errXksURIInUse           = "XksProxyUriInUseException"
	errXksVpcServiceNotFound = "XksProxyVpcEndpointServiceNotFoundException"
	errXksKeyNotFound        = "XksKeyNotFoundException"
	errXksKeyInvalidConfig   = "XksKeyInvalidConfigurationException"
	errXksKeyInUse           = "XksKeyAlreadyInUseException"
)

func errNoKeyStore(id string) error {
	return kmserr.New(kmserr.CustomKeyStoreNotFound, "Custom key store %s does not exist.", id)
}

// CreateCustomKeyStore creates an AWS_CLOUDHSM key store on a configured
// PKCS#11 token, or an EXTERNAL_KEY_STORE on an XKS proxy. A new store is
// DISCONNECTED.
func (s *Service) CreateCustomKeyStore(ctx context.Context, c *Call, in *kmsapi.CreateCustomKeyStoreInput) (*kmsapi.CreateCustomKeyStoreOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	// Custom key stores are not key resources: identity policies decide.
	if err := s.authorize(ctx, c, "kms:CreateCustomKeyStore", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	typ := string(in.CustomKeyStoreType)
	if typ == "" {
		typ = typeCloudHSM
	}
	rec := &keyStoreRecord{
		ID: newKeyStoreID(), AccountID: c.Caller.AccountID, Region: c.Caller.Region,
		Name: in.CustomKeyStoreName, Type: typ, Created: s.now(), State: connDisconnected,
	}
	var err error
	if typ == typeCloudHSM {
		err = s.newHSMStore(rec, in)
	} else {
		err = s.newXKSStore(rec, in)
	}
	if err != nil {
		return nil, err
	}
	if typ == typeXKS {
		// AWS tests the proxy before it creates the store.
		if err := s.testProxy(ctx, c, "CreateCustomKeyStore", rec, []byte(in.XksProxyAuthenticationCredential.RawSecretAccessKey)); err != nil {
			return nil, err
		}
	}
	out := &kmsapi.CreateCustomKeyStoreOutput{CustomKeyStoreId: rec.ID}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		all, err := listKeyStores(tx, rec.AccountID, rec.Region)
		if err != nil {
			return err
		}
		if len(all) >= keyStoresPerAccount {
			return kmserr.New(kmserr.LimitExceeded, "The request was rejected because the number of custom key stores in the account and Region (%d) has reached the quota.", len(all))
		}
		if err := checkUnique(all, rec); err != nil {
			return err
		}
		if err := checkClusterFree(tx, rec); err != nil {
			return err
		}
		c.answer = out // the call's before the commit (see Call.Answer)
		return putKeyStore(tx, rec)
	})
	if err != nil {
		return nil, storeErr(err, "create custom key store")
	}
	return out, nil
}

// newHSMStore validates an AWS_CLOUDHSM request and fills rec.
func (s *Service) newHSMStore(rec *keyStoreRecord, in *kmsapi.CreateCustomKeyStoreInput) error {
	if in.XksProxyUriEndpoint != "" || in.XksProxyUriPath != "" || in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != "" || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != "" {
		return kmserr.New(kmserr.Validation, "The XksProxy parameters are valid only when CustomKeyStoreType is EXTERNAL_KEY_STORE.")
	}
	for _, p := range []struct{ name, v string }{{"CloudHsmClusterId", in.CloudHsmClusterId}, {"TrustAnchorCertificate", in.TrustAnchorCertificate}, {"KeyStorePassword", in.KeyStorePassword}} {
		if p.v == "" {
			return kmserr.New(kmserr.Validation, "%s is required when CustomKeyStoreType is AWS_CLOUDHSM.", p.name)
		}
	}
	cl, err := s.cluster(rec.AccountID, in.CloudHsmClusterId)
	if err != nil {
		return err
	}
	if want := cl.TrustAnchor(); want != "" && !samePEM(want, in.TrustAnchorCertificate) {
		return kmserr.New(errIncorrectTrustAnchor, "The TrustAnchorCertificate is not the trust anchor certificate of cluster %s.", in.CloudHsmClusterId)
	}
	rec.ClusterID, rec.TrustAnchor = in.CloudHsmClusterId, in.TrustAnchorCertificate
	rec.SealedPassword, err = s.sealStoreSecret(rec, "password", []byte(in.KeyStorePassword))
	if err != nil {
		return kmserr.Internalf("%w", err)
	}
	return nil
}

// newXKSStore validates an EXTERNAL_KEY_STORE request and fills rec.
func (s *Service) newXKSStore(rec *keyStoreRecord, in *kmsapi.CreateCustomKeyStoreInput) error {
	if in.CloudHsmClusterId != "" || in.TrustAnchorCertificate != "" || in.KeyStorePassword != "" {
		return kmserr.New(kmserr.Validation, "The CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword parameters are valid only when CustomKeyStoreType is AWS_CLOUDHSM.")
	}
	for _, p := range []struct {
		name string
		set  bool
	}{{"XksProxyUriEndpoint", in.XksProxyUriEndpoint != ""}, {"XksProxyUriPath", in.XksProxyUriPath != ""}, {"XksProxyAuthenticationCredential", in.XksProxyAuthenticationCredential != nil}, {"XksProxyConnectivity", in.XksProxyConnectivity != ""}} {
		if !p.set {
			return kmserr.New(kmserr.Validation, "%s is required when CustomKeyStoreType is EXTERNAL_KEY_STORE.", p.name)
		}
	}
	if err := checkConnectivity(string(in.XksProxyConnectivity), in.XksProxyVpcEndpointServiceName, in.XksProxyVpcEndpointServiceOwner); err != nil {
		return err
	}
	rec.XksEndpoint, rec.XksPath, rec.XksConnectivity = in.XksProxyUriEndpoint, in.XksProxyUriPath, string(in.XksProxyConnectivity)
	rec.XksAccessKeyID = in.XksProxyAuthenticationCredential.AccessKeyId
	var err error
	rec.SealedSecret, err = s.sealStoreSecret(rec, "secret", []byte(in.XksProxyAuthenticationCredential.RawSecretAccessKey))
	if err != nil {
		return kmserr.Internalf("%w", err)
	}
	return nil
}

// checkConnectivity validates the proxy connectivity parameters. kmsd runs
// outside any VPC, so a VPC endpoint service never exists.
func checkConnectivity(conn, svc, owner string) error {
	if conn == string(kmsapi.XksProxyConnectivityTypePublicEndpoint) {
		if svc != "" || owner != "" {
			return kmserr.New(kmserr.Validation, "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.")
		}
		return nil
	}
	if svc == "" {
		return kmserr.New(kmserr.Validation, "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.")
	}
	return kmserr.New(errXksVpcServiceNotFound, "VPC endpoint service %s was not found. kmsd reaches external key store proxies only through public endpoints: use XksProxyConnectivity PUBLIC_ENDPOINT.", svc)
}

// cluster finds a configured token of account by its CloudHsmClusterId.
// Another account's cluster is answered as one that does not exist, with
// the same message, so a cluster id tells nothing about other tenants.
func (s *Service) cluster(account, id string) (HSMCluster, error) {
	if cl := s.cks.cluster(account, id); cl != nil {
		return cl, nil
	}
	return nil, kmserr.New(errClusterNotFound, "The request was rejected because AWS KMS cannot find the AWS CloudHSM cluster with the specified cluster ID. Retry the request with a different cluster ID.")
}

// samePEM compares two certificates ignoring surrounding whitespace and
// line endings.
func samePEM(a, b string) bool {
	norm := func(s string) string { return strings.Join(strings.Fields(s), "") }
	return norm(a) == norm(b)
}

// checkUnique refuses a store whose name or proxy URI another store of the
// account and Region already has (clusters: checkClusterFree).
func checkUnique(all []*keyStoreRecord, rec *keyStoreRecord) error {
	for _, o := range all {
		if o.ID == rec.ID {
			continue
		}
		switch {
		case o.Name == rec.Name:
			return kmserr.New(errKeyStoreNameInUse, "Custom key store name %s is already in use.", rec.Name)
		case rec.Type == typeXKS && o.Type == typeXKS && o.XksEndpoint == rec.XksEndpoint && o.XksPath == rec.XksPath:
			return kmserr.New(errXksURIInUse, "The XKS proxy URI %s%s is already associated with custom key store %s.", rec.XksEndpoint, rec.XksPath, o.ID)
		}
	}
	return nil
}

// DescribeCustomKeyStores lists the account's custom key stores in the
// Region, or the one a filter names, in pages.
func (s *Service) DescribeCustomKeyStores(ctx context.Context, c *Call, in *kmsapi.DescribeCustomKeyStoresInput) (*kmsapi.DescribeCustomKeyStoresOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, kmserr.New(kmserr.Validation, "You can specify either the CustomKeyStoreId or the CustomKeyStoreName parameter, but not both.")
	}
	// Custom key stores are not key resources: only identity policies
	// decide, as for ListKeys.
	if err := s.authorize(ctx, c, "kms:DescribeCustomKeyStores", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	var all []*keyStoreRecord
	if err := s.store.View(ctx, func(tx store.Tx) error {
		all, err = listKeyStores(tx, c.Caller.AccountID, c.Caller.Region)
		return err
	}); err != nil {
		return nil, kmserr.Internalf("list custom key stores: %w", err)
	}
	var sel []*keyStoreRecord
	for _, r := range all {
		if (in.CustomKeyStoreId == "" || r.ID == in.CustomKeyStoreId) && (in.CustomKeyStoreName == "" || r.Name == in.CustomKeyStoreName) && r.ID > after {
			sel = append(sel, r)
		}
	}
	switch {
	case in.CustomKeyStoreId != "" && len(sel) == 0 && after == "":
		return nil, errNoKeyStore(in.CustomKeyStoreId)
	case in.CustomKeyStoreName != "" && len(sel) == 0 && after == "":
		return nil, kmserr.New(kmserr.CustomKeyStoreNotFound, "Custom key store with name %s does not exist.", in.CustomKeyStoreName)
	}
	limit := limitOf(in.Limit, 100)
	out := &kmsapi.DescribeCustomKeyStoresOutput{CustomKeyStores: []kmsapi.CustomKeyStoresListEntry{}, Truncated: kmsapi.Bool(false)}
	for i, r := range sel {
		if i == limit {
			out.Truncated, out.NextMarker = kmsapi.Bool(true), encodeMarker(sel[i-1].ID)
			break
		}
		s.cks.resume(s, r)
		out.CustomKeyStores = append(out.CustomKeyStores, r.entry())
	}
	return out, nil
}

// loadStoreFor reads a store of the caller's account and Region.
func (s *Service) loadStoreFor(ctx context.Context, c *Call, id string) (*keyStoreRecord, error) {
	var rec *keyStoreRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		rec, err = loadKeyStore(tx, c.Caller.AccountID, c.Caller.Region, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoKeyStore(id)
	}
	if err != nil {
		return nil, kmserr.Internalf("load custom key store %s: %w", id, err)
	}
	return rec, nil
}

// updateStore changes a store in a transaction: fn sees the current record
// and the other stores of the partition.
func (s *Service) updateStore(ctx context.Context, account, region, id string, fn func(r *keyStoreRecord, all []*keyStoreRecord) error) (*keyStoreRecord, error) {
	var out *keyStoreRecord
	err := s.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadKeyStore(tx, account, region, id)
		if errors.Is(err, store.ErrNotFound) {
			return errNoKeyStore(id)
		}
		if err != nil {
			return err
		}
		all, err := listKeyStores(tx, account, region)
		if err != nil {
			return err
		}
		cluster := r.ClusterID
		if err := fn(r, all); err != nil {
			return err
		}
		if r.ClusterID != cluster {
			if err := checkClusterFree(tx, r); err != nil {
				return err
			}
		}
		out = r
		return putKeyStore(tx, r)
	})
	if err != nil {
		return nil, storeErr(err, "update custom key store "+id)
	}
	return out, nil
}

// DeleteCustomKeyStore deletes a disconnected store that holds no keys.
func (s *Service) DeleteCustomKeyStore(ctx context.Context, c *Call, in *kmsapi.DeleteCustomKeyStoreInput) (*kmsapi.DeleteCustomKeyStoreOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:DeleteCustomKeyStore", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadKeyStore(tx, c.Caller.AccountID, c.Caller.Region, in.CustomKeyStoreId)
		if errors.Is(err, store.ErrNotFound) {
			return errNoKeyStore(in.CustomKeyStoreId)
		}
		if err != nil {
			return err
		}
		if r.State != connDisconnected {
			return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. You can delete only a DISCONNECTED custom key store.", r.ID, r.State)
		}
		n, err := keysInStore(tx, r)
		if err != nil {
			return err
		}
		if n > 0 {
			return kmserr.New(errKeyStoreHasCMKs, "Custom key store %s contains %d KMS keys. Delete them before you delete the custom key store.", r.ID, n)
		}
		return tx.Delete(bucketKeyStores, r.key())
	})
	if err != nil {
		return nil, storeErr(err, "delete custom key store")
	}
	return &kmsapi.DeleteCustomKeyStoreOutput{}, nil
}
