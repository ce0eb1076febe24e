package api_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/authz"
	"github.com/kmsd/kmsd/internal/identity"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// enforcing is a kmsd API server that enforces key and identity policies,
// wired as `kmsd dev --enforce` wires it: the account root signs with the
// documentation's example key, and alice is an IAM user whose one inline
// policy a test sets.
type enforcing struct {
	t     *testing.T
	ids   *identity.Store
	root  *kms.Client
	alice *kms.Client
	url   string
	n     atomic.Int64 // for unique alias names
}

func startEnforcing(t *testing.T) *enforcing {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.OpenFile(filepath.Join(dir, "audit.jsonl"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol := &authz.Policies{}
	ids := identity.New(identity.Config{Store: st, Sealer: sl, Policies: pol, Trust: pol})
	pol.Store = ids
	if err := ids.Init(bg, testAccount); err != nil {
		t.Fatal(err)
	}
	if err := ids.EnsureAccessKey(bg, testAccount, "", testAccessKey, secret.Bytes(testSecretKey)); err != nil {
		t.Fatal(err)
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.PolicyAuthorizer{Identities: pol}})
	if err != nil {
		t.Fatal(err)
	}
	creds := api.Identities{Store: ids}
	auth := api.Strict{Verifier: &sigv4.Verifier{Credentials: creds, Services: []string{"kms"}}, Principals: creds}
	srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: al})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if _, err := ids.CreateUser(bg, testAccount, identity.CreateUserInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	akid, sec, err := ids.CreateAccessKey(bg, testAccount, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return &enforcing{
		t: t, ids: ids, url: hs.URL,
		root:  newClient(hs.URL, testRegion, testAccessKey, testSecretKey),
		alice: newClient(hs.URL, testRegion, akid, string(sec)),
	}
}

// keyKind is the kind of key an operation acts on.
type keyKind struct {
	spec   types.KeySpec
	usage  types.KeyUsageType
	origin types.OriginType
	multi  bool
}

var (
	symmetric = keyKind{spec: types.KeySpecSymmetricDefault, usage: types.KeyUsageTypeEncryptDecrypt, origin: types.OriginTypeAwsKms}
	signing   = keyKind{spec: types.KeySpecEccNistP256, usage: types.KeyUsageTypeSignVerify, origin: types.OriginTypeAwsKms}
	hmacKey   = keyKind{spec: types.KeySpecHmac256, usage: types.KeyUsageTypeGenerateVerifyMac, origin: types.OriginTypeAwsKms}
	agreement = keyKind{spec: types.KeySpecEccNistP256, usage: types.KeyUsageTypeKeyAgreement, origin: types.OriginTypeAwsKms}
	kemKey    = keyKind{spec: types.KeySpecMlKem768, usage: types.KeyUsageTypeEncapsulateDecapsulate, origin: types.OriginTypeAwsKms}
	external  = keyKind{spec: types.KeySpecSymmetricDefault, usage: types.KeyUsageTypeEncryptDecrypt, origin: types.OriginTypeExternal}
	primary   = keyKind{spec: types.KeySpecSymmetricDefault, usage: types.KeyUsageTypeEncryptDecrypt, origin: types.OriginTypeAwsKms, multi: true}
)

// testKey is a key made for one call, with what the call's preparation
// produced.
type testKey struct {
	id, arn, alias string
	blob, sig, mac []byte // a ciphertext, a signature, a MAC of msg
	grantID        string
	params         *kms.GetParametersForImportOutput
}

var msg = []byte("condition keys")

// Condition blocks, as JSON.
func condEq(key, value string) string { return `{"StringEquals":{"` + key + `":"` + value + `"}}` }
func condNull(key string, absent bool) string {
	return `{"Null":{"` + key + `":"` + strconv.FormatBool(absent) + `"}}`
}
func condBool(key string, b bool) string {
	return `{"Bool":{"` + key + `":"` + strconv.FormatBool(b) + `"}}`
}
func condNum(op, key string, n int64) string {
	return `{"` + op + `":{"` + key + `":"` + strconv.FormatInt(n, 10) + `"}}`
}
func condAny(key, value string) string {
	return `{"ForAnyValue:StringEquals":{"` + key + `":"` + value + `"}}`
}

const rootAllow = `{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:*","Resource":"*"}`

// keyPolicy is the root's delegation, and a Deny of action guarded by
// block when block is not "".
func keyPolicy(action, block string) string {
	stmts := rootAllow
	if block != "" {
		stmts += `,{"Sid":"Guard","Effect":"Deny","Principal":"*","Action":"` + action + `","Resource":"*","Condition":` + block + `}`
	}
	return `{"Version":"2012-10-17","Statement":[` + stmts + `]}`
}

// identityPolicy allows alice every KMS action, and denies action when
// block holds.
func identityPolicy(action, block string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Deny","Action":"` + action + `","Resource":"*","Condition":` + block + `}]}`
}

// newKey makes a key of kind, tagged Env=test, with an alias, and then
// gives it policy, in which {alias} stands for the alias.
func (e *enforcing) newKey(t *testing.T, kind keyKind, policy string) *testKey {
	t.Helper()
	out, err := e.root.CreateKey(bg, &kms.CreateKeyInput{
		KeySpec: kind.spec, KeyUsage: kind.usage, Origin: kind.origin, MultiRegion: aws.Bool(kind.multi),
		Tags: []types.Tag{{TagKey: aws.String("Env"), TagValue: aws.String("test")}},
	})
	if err != nil {
		t.Fatalf("CreateKey %s: %v", kind.spec, err)
	}
	k := &testKey{id: *out.KeyMetadata.KeyId, arn: *out.KeyMetadata.Arn, alias: "alias/ck-" + strconv.FormatInt(e.n.Add(1), 10)}
	if _, err := e.root.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(k.alias), TargetKeyId: aws.String(k.id)}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	if _, err := e.root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{
		KeyId: aws.String(k.id), Policy: aws.String(strings.ReplaceAll(policy, "{alias}", k.alias)), BypassPolicyLockoutSafetyCheck: true,
	}); err != nil {
		t.Fatalf("PutKeyPolicy: %v", err)
	}
	return k
}

func (e *enforcing) setIdentityPolicy(t *testing.T, doc string) {
	t.Helper()
	if err := e.ids.PutUserPolicy(bg, testAccount, "alice", "p", doc); err != nil {
		t.Fatalf("PutUserPolicy: %v\n%s", err, doc)
	}
}

// peerPublicKey is a P-256 public key of a peer, for DeriveSharedSecret.
func peerPublicKey(t *testing.T) []byte {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// wrapForImport wraps 32 fresh bytes of key material under the public key
// of an import's parameters with RSAES_OAEP_SHA_256.
func wrapForImport(t *testing.T, params *kms.GetParametersForImportOutput) []byte {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	return wrapped
}

func importParams(t *testing.T, c *kms.Client, k *testKey) {
	t.Helper()
	p, err := c.GetParametersForImport(bg, &kms.GetParametersForImportInput{
		KeyId: aws.String(k.id), WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048,
	})
	if err != nil {
		t.Fatalf("GetParametersForImport: %v", err)
	}
	k.params = p
}

// wantDenied checks that err is the AccessDeniedException of an explicit
// Deny in the kind of policy that holds the guard.
func wantExplicitDeny(t *testing.T, err error, inIdentityPolicy bool) {
	t.Helper()
	msg := wantCode(t, err, "AccessDeniedException")
	want := "with an explicit deny in a resource-based policy"
	if inIdentityPolicy {
		want = "with an explicit deny in an identity-based policy"
	}
	if !strings.HasSuffix(msg, want) {
		t.Fatalf("AccessDenied message %q, want one ending %q", msg, want)
	}
}

// TestConditionKeysGuardEveryOperation: for every operation and every
// condition key AWS documents for it, a Deny guarded by a condition on the
// key that holds for the call refuses it, and one that does not hold lets
// it through. Keys AWS permits in IAM policies only guard alice's identity
// policy; the others the key policy.
func TestConditionKeysGuardEveryOperation(t *testing.T) {
	e := startEnforcing(t)
	total := 0
	for _, op := range conditionKeyTable() {
		for _, row := range op.rows {
			total++
			t.Run(op.name+"/"+row.key, func(t *testing.T) {
				for _, holds := range []bool{true, false} {
					block := row.other
					if holds {
						block = row.match
					}
					err := e.runGuarded(t, op, row, block)
					switch {
					case holds:
						wantExplicitDeny(t, err, row.iamOnly || op.kind == nil)
					case err != nil:
						t.Fatalf("with a Deny that does not hold (%s): %v", block, err)
					}
				}
			})
		}
	}
	t.Logf("%d (operation, condition key) rows", total)
}

// runGuarded makes a key for op (none for an operation on no key), guards
// op's action with block in the key policy or in alice's identity policy,
// and calls op.
func (e *enforcing) runGuarded(t *testing.T, op opCase, row condRow, block string) error {
	t.Helper()
	iam := row.iamOnly || op.kind == nil
	var k *testKey
	if op.kind != nil {
		policy := keyPolicy(op.action, block)
		if iam {
			policy = keyPolicy(op.action, "")
		}
		k = e.newKey(t, *op.kind, policy)
		block = strings.ReplaceAll(block, "{alias}", k.alias)
		if op.prepare != nil {
			op.prepare(t, e.root, k)
		}
	}
	c := e.root
	if iam {
		e.setIdentityPolicy(t, identityPolicy(op.action, block))
		c = e.alice
	}
	return op.call(t, c, k)
}
