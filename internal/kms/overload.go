package kms

import (
	"context"
	"errors"
	"runtime"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/quota"
	"github.com/kmsd/kmsd/internal/secret"
)

// Limiter admits requests under AWS's request-rate quotas per account and
// Region (quota.Limiter is one). name is a shared cryptographic quota
// (quota.KeyClass), a GenerateDataKeyPair quota (quota.DataKeyPair) or an
// operation name.
//
// The service charges each cryptographic operation to the quota of the
// type of key it uses, once the key is resolved, since only then is its
// type known; every other operation is charged by name through
// AdmitOperation, which the API edge calls before the operation runs.
type Limiter interface {
	Allow(account, region, name string) bool
}

func errThrottled() error { return kmserr.New(kmserr.Throttling, "Rate exceeded") }

// AdmitOperation charges a request for op to the caller's quota for op,
// and answers ThrottlingException when it is spent. Operations charged by
// the key they use pass; they are charged once the key is resolved.
func (s *Service) AdmitOperation(c *Call, op string) error {
	if s.limiter == nil || quota.ChargedByKey(op) {
		return nil
	}
	if !s.limiter.Allow(c.Caller.AccountID, c.Caller.Region, op) {
		return errThrottled()
	}
	return nil
}

// cryptoActions are the actions that draw from the shared cryptographic
// quotas. GenerateDataKeyPair is not one: it has quotas per pair spec.
var cryptoActions = map[string]bool{
	"kms:Encrypt": true, "kms:Decrypt": true, "kms:ReEncryptFrom": true, "kms:ReEncryptTo": true,
	"kms:GenerateDataKey": true, "kms:GenerateDataKeyWithoutPlaintext": true,
	"kms:GenerateMac": true, "kms:VerifyMac": true, "kms:GenerateRandom": true,
	"kms:Sign": true, "kms:Verify": true, "kms:DeriveSharedSecret": true,
	"kms:Encapsulate": true, "kms:Decapsulate": true,
}

// throttle charges a cryptographic action on key k (nil for GenerateRandom,
// which counts as symmetric) to the caller's shared quota for k's type.
// The caller's account pays, also for another account's key, as in AWS; a
// ReEncrypt pays once for each of its two keys.
func (s *Service) throttle(c *Call, action string, k *cachedKey) error {
	if s.limiter == nil || !cryptoActions[action] {
		return nil
	}
	class := quota.Symmetric
	if k != nil {
		class = quota.KeyClass(k.rec.KeySpec)
	}
	if !s.limiter.Allow(c.Caller.AccountID, c.Caller.Region, class) {
		return errThrottled()
	}
	return nil
}

// throttleDataKeyPair charges GenerateDataKeyPair(WithoutPlaintext) to the
// caller's quota for the pair spec.
func (s *Service) throttleDataKeyPair(c *Call, spec string) error {
	if s.limiter != nil && !s.limiter.Allow(c.Caller.AccountID, c.Caller.Region, quota.DataKeyPair(spec)) {
		return errThrottled()
	}
	return nil
}

// newPool returns the semaphore of expensive work: size slots, or by
// default one fewer than the processors Go runs on (at least one), so a
// flood of RSA key generations leaves a processor to cheap requests.
func newPool(size int) chan struct{} {
	if size <= 0 {
		size = max(1, runtime.GOMAXPROCS(0)-1)
	}
	return make(chan struct{}, size)
}

// expensiveSpec reports whether generating a key of spec costs enough CPU
// (RSA: up to seconds) to go through the pool.
func expensiveSpec(spec string) bool { return strings.HasPrefix(spec, "RSA_") }

// onPool runs fn in a slot of the pool of expensive work, waiting for one.
// A request whose context ends first (its client went away, its deadline
// passed) does not run fn and gets DependencyTimeoutException.
func (s *Service) onPool(ctx context.Context, fn func() error) error {
	select {
	case s.pool <- struct{}{}:
	case <-ctx.Done():
		return errAbandoned()
	}
	defer func() { <-s.pool }()
	if ctx.Err() != nil {
		// Both were ready and select chose the slot.
		return errAbandoned()
	}
	return fn()
}

func errAbandoned() error {
	return kmserr.New(kmserr.DependencyTimeout, "The request ended before kmsd could process it.")
}

// freshMaterial makes the material of a new key of spec; an RSA key is
// made on the pool of expensive work.
func (s *Service) freshMaterial(ctx context.Context, spec string) (secret.Bytes, error) {
	var m secret.Bytes
	gen := func() (err error) {
		m, err = generateMaterial(spec)
		if err != nil {
			return kmserr.Internalf("generate %s material: %w", spec, err)
		}
		return nil
	}
	if !expensiveSpec(spec) {
		return m, gen()
	}
	return m, s.onPool(ctx, gen)
}

// freshDataKeyPair makes a data key pair of spec; an RSA pair is made on
// the pool of expensive work.
func (s *Service) freshDataKeyPair(ctx context.Context, spec string) ([]byte, secret.Bytes, error) {
	var pub []byte
	var priv secret.Bytes
	gen := func() (err error) {
		pub, priv, err = keys.GenerateDataKeyPair(spec)
		switch {
		case errors.Is(err, keys.ErrUnsupportedKeySpec):
			return kmserr.New(kmserr.UnsupportedOperation, "KeyPairSpec %s is not supported by this kmsd version.", spec)
		case err != nil:
			return kmserr.Internalf("generate %s key pair: %w", spec, err)
		}
		return nil
	}
	if !expensiveSpec(spec) {
		return pub, priv, gen()
	}
	return pub, priv, s.onPool(ctx, gen)
}
