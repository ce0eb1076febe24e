package ckshsm

import (
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/hsm"
	"github.com/kmsd/kmsd/internal/kms"
)

// Cluster is one configured token.
type Cluster struct {
	ID     string // the CloudHsmClusterId that names it, e.g. cluster-234567abcde
	Owner  string // the AWS account id it belongs to; only its stores may use it
	Module string // path of the PKCS#11 library
	Token  string // token label
	Anchor string // PEM a store's TrustAnchorCertificate must match; "" accepts any
}

// Clusters are the configured tokens by id.
type Clusters map[string]Cluster

var _ kms.HSMClusters = Clusters{}

// Cluster finds a token by its CloudHsmClusterId.
func (cs Clusters) Cluster(id string) (kms.HSMCluster, bool) {
	c, ok := cs[id]
	if !ok {
		return nil, false
	}
	return c, true
}

// Account is the account the token belongs to.
func (c Cluster) Account() string { return c.Owner }

// TrustAnchor is the configured trust anchor.
func (c Cluster) TrustAnchor() string { return c.Anchor }

// Login opens the token as its user.
func (c Cluster) Login(pin []byte) (kms.HSMToken, error) {
	t, err := hsm.Open(c.Module, c.Token, string(pin))
	if err != nil {
		return nil, wrap(err)
	}
	return token{t}, nil
}

type token struct{ t *hsm.Token }

func (t token) GenerateKey(label string) error { return wrap(t.t.GenerateKey(label)) }
func (t token) DeleteKey(label string) error {
	if err := t.t.DeleteKey(label); err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
		return wrap(err)
	}
	return nil
}
func (t token) Ping() error { return wrap(t.t.Ping()) }
func (t token) Close()      { _ = t.t.Close() }

func (t token) Encrypt(label string, pt, aad []byte) ([]byte, error) {
	out, err := t.t.Encrypt(label, pt, aad)
	return out, wrap(err)
}

func (t token) Decrypt(label string, sealed, aad []byte) ([]byte, error) {
	out, err := t.t.Decrypt(label, sealed, aad)
	return out, wrap(err)
}

// failures maps hsm's sentinels to what AWS reports for a CloudHSM key store.
var failures = []struct {
	err error
	f   kms.Failure
}{
	{hsm.ErrPINIncorrect, kms.FailCredentials},
	{hsm.ErrPINLocked, kms.FailLockedOut},
	{hsm.ErrTokenNotFound, kms.FailClusterNotFound},
	{hsm.ErrModule, kms.FailClusterNotFound},
	{hsm.ErrNotLoggedIn, kms.FailCredentials},
	{hsm.ErrKeyNotFound, kms.FailKeyNotFound},
	{hsm.ErrKeyExists, kms.FailKeyExists},
	{hsm.ErrDecrypt, kms.FailInvalidCiphertext},
	{hsm.ErrClosed, kms.FailUnreachable},
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range failures {
		if errors.Is(err, m.err) {
			return &kms.BackendError{Failure: m.f, Err: err}
		}
	}
	return &kms.BackendError{Failure: kms.FailInternal, Err: fmt.Errorf("pkcs11: %w", err)}
}
