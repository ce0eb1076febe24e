package api_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"

	kmscore "github.com/kmsd/kmsd/internal/kms"
)

// In-memory stand-ins for a PKCS#11 token and an XKS proxy, so the custom
// key store operations are tested on the wire without either; the
// SoftHSM2 and two-kmsd tests cover the real backends.

type fakeClusters map[string]*fakeCluster

func (f fakeClusters) Cluster(id string) (kmscore.HSMCluster, bool) {
	c, ok := f[id]
	return c, ok
}

type fakeCluster struct {
	mu      sync.Mutex
	account string // "": testAccount
	pin     string
	anchor  string
	keys    map[string][]byte
	// gate, when set, holds every Login until it is closed.
	gate   chan struct{}
	logins atomic.Int32
}

func newFakeCluster(pin, anchor string) *fakeCluster {
	return &fakeCluster{pin: pin, anchor: anchor, keys: map[string][]byte{}}
}

func (c *fakeCluster) TrustAnchor() string { return c.anchor }

func (c *fakeCluster) Account() string {
	if c.account == "" {
		return testAccount
	}
	return c.account
}

func (c *fakeCluster) Login(pin []byte) (kmscore.HSMToken, error) {
	c.logins.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if string(pin) != c.pin {
		return nil, &kmscore.BackendError{Failure: kmscore.FailCredentials, Err: errors.New("CKR_PIN_INCORRECT")}
	}
	return fakeToken{c}, nil
}

func (c *fakeCluster) has(label string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.keys[label]
	return ok
}

type fakeToken struct{ c *fakeCluster }

func (t fakeToken) GenerateKey(label string) error {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if _, ok := t.c.keys[label]; ok {
		return &kmscore.BackendError{Failure: kmscore.FailKeyExists, Err: errors.New("exists")}
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	t.c.keys[label] = k
	return nil
}

func (t fakeToken) DeleteKey(label string) error {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.keys, label)
	return nil
}

func (t fakeToken) gcm(label string) (cipher.AEAD, error) {
	t.c.mu.Lock()
	k, ok := t.c.keys[label]
	t.c.mu.Unlock()
	if !ok {
		return nil, &kmscore.BackendError{Failure: kmscore.FailKeyNotFound, Err: errors.New("no key " + label)}
	}
	// The AEAD draws its own nonce: FIPS 140-only mode allows no other GCM.
	b, _ := aes.NewCipher(k)
	return cipher.NewGCMWithRandomNonce(b)
}

func (t fakeToken) Encrypt(label string, pt, aad []byte) ([]byte, error) {
	g, err := t.gcm(label)
	if err != nil {
		return nil, err
	}
	return g.Seal(nil, nil, pt, aad), nil // iv | ciphertext | tag
}

func (t fakeToken) Decrypt(label string, sealed, aad []byte) ([]byte, error) {
	g, err := t.gcm(label)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 28 {
		return nil, &kmscore.BackendError{Failure: kmscore.FailInvalidCiphertext, Err: errors.New("short")}
	}
	pt, err := g.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, &kmscore.BackendError{Failure: kmscore.FailInvalidCiphertext, Err: err}
	}
	return pt, nil
}

func (fakeToken) Ping() error { return nil }
func (fakeToken) Close()      {}

// fakeProxy is one external key manager behind one proxy URI and credential.
type fakeProxy struct {
	mu       sync.Mutex
	uri      string // endpoint + path it answers on
	akid     string
	secret   string
	keys     map[string]*fakeExternalKey
	requests []kmscore.XKSRequestMetadata
	// hang, when set, makes health checks wait for their context.
	hang bool
}

type fakeExternalKey struct {
	key     []byte
	enabled bool
	spec    string
}

func newFakeProxy(uri, akid, secret string) *fakeProxy {
	return &fakeProxy{uri: uri, akid: akid, secret: secret, keys: map[string]*fakeExternalKey{}}
}

func (p *fakeProxy) addKey(id, spec string, enabled bool) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[id] = &fakeExternalKey{key: k, enabled: enabled, spec: spec}
}

func (p *fakeProxy) setEnabled(id string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[id].enabled = on
}

func (p *fakeProxy) Dial(cfg kmscore.XKSProxyConfig) (kmscore.XKSProxy, error) {
	return fakeClient{p: p, uri: cfg.Endpoint + cfg.Path, akid: cfg.AccessKeyID, secret: string(cfg.SecretAccessKey)}, nil
}

// fakeClient answers as the proxy would to a client configured with uri
// and a credential.
type fakeClient struct {
	p                 *fakeProxy
	uri, akid, secret string
}

func (c fakeClient) Close() {}

// check fails as the proxy does when it is elsewhere or the credential is
// not its current one; it is called with p.mu held.
func (c fakeClient) check() error {
	if c.uri != c.p.uri {
		return &kmscore.BackendError{Failure: kmscore.FailUnreachable, Err: errors.New("connection refused")}
	}
	if c.akid != c.p.akid || c.secret != c.p.secret {
		return &kmscore.BackendError{Failure: kmscore.FailCredentials, Err: errors.New("AuthenticationFailedException")}
	}
	return nil
}

func (c fakeClient) Health(ctx context.Context, md kmscore.XKSRequestMetadata) error {
	c.p.mu.Lock()
	hang := c.p.hang
	c.p.mu.Unlock()
	if hang {
		<-ctx.Done()
		return &kmscore.BackendError{Failure: kmscore.FailTimeout, Err: ctx.Err()}
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.check()
}

func (c fakeClient) key(id string, md kmscore.XKSRequestMetadata, usable bool) (*fakeExternalKey, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if err := c.check(); err != nil {
		return nil, err
	}
	c.p.requests = append(c.p.requests, md)
	k, ok := c.p.keys[id]
	if !ok {
		return nil, &kmscore.BackendError{Failure: kmscore.FailKeyNotFound, Err: errors.New("KeyNotFoundException")}
	}
	if usable && !k.enabled {
		return nil, &kmscore.BackendError{Failure: kmscore.FailKeyDisabled, Err: errors.New("InvalidStateException")}
	}
	return k, nil
}

func (c fakeClient) Metadata(_ context.Context, id string, md kmscore.XKSRequestMetadata) (*kmscore.XKSKeyMetadata, error) {
	k, err := c.key(id, md, false)
	if err != nil {
		return nil, err
	}
	status := "DISABLED"
	if k.enabled {
		status = "ENABLED"
	}
	return &kmscore.XKSKeyMetadata{KeySpec: k.spec, KeyUsage: []string{"ENCRYPT", "DECRYPT"}, KeyStatus: status}, nil
}

func (c fakeClient) Encrypt(_ context.Context, id string, md kmscore.XKSRequestMetadata, pt, aad []byte) ([]byte, error) {
	k, err := c.key(id, md, true)
	if err != nil {
		return nil, err
	}
	b, _ := aes.NewCipher(k.key)
	g, _ := cipher.NewGCMWithRandomNonce(b)
	return g.Seal(nil, nil, pt, aad), nil // iv | ciphertext | tag
}

func (c fakeClient) Decrypt(_ context.Context, id string, md kmscore.XKSRequestMetadata, sealed, aad []byte) ([]byte, error) {
	k, err := c.key(id, md, true)
	if err != nil {
		return nil, err
	}
	b, _ := aes.NewCipher(k.key)
	g, _ := cipher.NewGCMWithRandomNonce(b)
	if len(sealed) < 28 {
		return nil, &kmscore.BackendError{Failure: kmscore.FailInvalidCiphertext, Err: errors.New("short")}
	}
	pt, err := g.Open(nil, nil, sealed, aad)
	if err != nil {
		return nil, &kmscore.BackendError{Failure: kmscore.FailInvalidCiphertext, Err: err}
	}
	return pt, nil
}
