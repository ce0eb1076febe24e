package kms

import (
	"context"
	"fmt"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// UpdateCustomKeyStore changes a store's properties. As AWS documents it, an
// AWS_CLOUDHSM store must be DISCONNECTED for any change; an external key
// store may also be CONNECTED to change its name, proxy credential or URI
// path, and must be DISCONNECTED for the rest. A changed proxy
// configuration is tested before it is saved.
func (s *Service) UpdateCustomKeyStore(ctx context.Context, c *Call, in *kmsapi.UpdateCustomKeyStoreInput) (*kmsapi.UpdateCustomKeyStoreOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:UpdateCustomKeyStore", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	cur, err := s.loadStoreFor(ctx, c, in.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	hsmChange := in.KeyStorePassword != "" || in.CloudHsmClusterId != ""
	xksChange := in.XksProxyUriEndpoint != "" || in.XksProxyUriPath != "" || in.XksProxyAuthenticationCredential != nil ||
		in.XksProxyConnectivity != "" || in.XksProxyVpcEndpointServiceName != "" || in.XksProxyVpcEndpointServiceOwner != ""
	switch {
	case cur.Type == typeCloudHSM && xksChange:
		return nil, kmserr.New(kmserr.Validation, "The XksProxy parameters are valid only for a custom key store of type EXTERNAL_KEY_STORE.")
	case cur.Type == typeXKS && hsmChange:
		return nil, kmserr.New(kmserr.Validation, "The KeyStorePassword and CloudHsmClusterId parameters are valid only for a custom key store of type AWS_CLOUDHSM.")
	}
	// Build the new configuration outside the transaction: it may seal
	// secrets and talk to the proxy.
	next := *cur
	if in.CloudHsmClusterId != "" && in.CloudHsmClusterId != cur.ClusterID {
		cl, err := s.cluster(cur.AccountID, in.CloudHsmClusterId)
		if err != nil {
			return nil, err
		}
		// A cluster is related when it has the same trust anchor: a
		// backup of the same cluster in AWS's terms.
		if want := cl.TrustAnchor(); want != "" && !samePEM(want, cur.TrustAnchor) {
			return nil, kmserr.New(errClusterNotRelated, "Cluster %s is not related to cluster %s: its trust anchor certificate is different.", in.CloudHsmClusterId, cur.ClusterID)
		}
		next.ClusterID = in.CloudHsmClusterId
	}
	if in.KeyStorePassword != "" {
		if next.SealedPassword, err = s.sealStoreSecret(cur, "password", []byte(in.KeyStorePassword)); err != nil {
			return nil, kmserr.Internalf("%w", err)
		}
	}
	var rawSecret []byte
	if xksChange {
		if in.XksProxyUriEndpoint != "" {
			next.XksEndpoint = in.XksProxyUriEndpoint
		}
		if in.XksProxyUriPath != "" {
			next.XksPath = in.XksProxyUriPath
		}
		if in.XksProxyConnectivity != "" {
			next.XksConnectivity = string(in.XksProxyConnectivity)
			next.XksVpcService, next.XksVpcOwner = "", ""
		}
		if in.XksProxyVpcEndpointServiceName != "" {
			next.XksVpcService = in.XksProxyVpcEndpointServiceName
		}
		if in.XksProxyVpcEndpointServiceOwner != "" {
			next.XksVpcOwner = in.XksProxyVpcEndpointServiceOwner
		}
		if err := checkConnectivity(next.XksConnectivity, next.XksVpcService, next.XksVpcOwner); err != nil {
			return nil, err
		}
		if cred := in.XksProxyAuthenticationCredential; cred != nil {
			next.XksAccessKeyID, rawSecret = cred.AccessKeyId, []byte(cred.RawSecretAccessKey)
			if next.SealedSecret, err = s.sealStoreSecret(cur, "secret", rawSecret); err != nil {
				return nil, kmserr.Internalf("%w", err)
			}
		}
	}
	// Changes an external key store accepts while CONNECTED.
	online := cur.Type == typeXKS && in.XksProxyUriEndpoint == "" && in.XksProxyConnectivity == "" &&
		in.XksProxyVpcEndpointServiceName == "" && in.XksProxyVpcEndpointServiceOwner == ""
	if err := updatableIn(cur, online); err != nil {
		return nil, err
	}
	if xksChange {
		if err := s.testProxy(ctx, c, "UpdateCustomKeyStore", &next, rawSecret); err != nil {
			return nil, err
		}
	}
	saved, err := s.updateStore(ctx, c.Caller.AccountID, c.Caller.Region, cur.ID, func(r *keyStoreRecord, all []*keyStoreRecord) error {
		if err := updatableIn(r, online); err != nil {
			return err
		}
		if hsmChange || xksChange {
			state, errCode, attempt := r.State, r.ErrorCode, r.Attempt
			*r = next
			r.State, r.ErrorCode, r.Attempt = state, errCode, attempt
			if state == connConnected {
				// A new attempt number retires the connection made with
				// the old settings, on every node.
				r.Attempt++
			}
		}
		if in.NewCustomKeyStoreName != "" {
			r.Name = in.NewCustomKeyStoreName
		}
		return checkUnique(all, r)
	})
	if err != nil {
		return nil, err
	}
	if hsmChange || xksChange {
		s.cks.retire(string(cur.key()), saved.Attempt)
	}
	return &kmsapi.UpdateCustomKeyStoreOutput{}, nil
}

// updatableIn refuses an update in a state AWS does not allow it in.
func updatableIn(r *keyStoreRecord, online bool) error {
	if r.State == connDisconnected || (online && r.State == connConnected) {
		return nil
	}
	if online {
		return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. You can change the name, proxy authentication credential and URI path of an external key store only while it is CONNECTED or DISCONNECTED.", r.ID, r.State)
	}
	return kmserr.New(errKeyStoreInvalidState, "Custom key store %s is %s. Disconnect it before you change this property.", r.ID, r.State)
}

// testProxy runs AWS's connectivity test of a proxy configuration (a
// health check) and answers the exception AWS gives when it fails. secret
// is the new secret, or nil for the stored one.
func (s *Service) testProxy(ctx context.Context, c *Call, op string, r *keyStoreRecord, secret []byte) error {
	p, err := s.dialProxy(r, secret)
	if err == nil {
		defer p.Close()
		err = p.Health(ctx, XKSRequestMetadata{AWSPrincipalArn: c.Caller.ARN, KMSOperation: op, KMSRequestID: c.RequestID})
	}
	if err != nil {
		f := failureOf(err)
		return withCause(kmserr.New(xksStoreException(f), "%s", xksMessage(f)), fmt.Errorf("test proxy %s%s: %w", r.XksEndpoint, r.XksPath, err))
	}
	return nil
}
