package api_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// barKeyKind is the kind of key a cell of the state matrix runs on.
type barKeyKind int

const (
	kindNone           barKeyKind = iota
	kindSymmetric                 // SYMMETRIC_DEFAULT, AWS_KMS
	kindSign                      // ECC_NIST_P256, SIGN_VERIFY
	kindHMAC                      // HMAC_256
	kindExternal                  // SYMMETRIC_DEFAULT, EXTERNAL, material imported
	kindMultiRegion               // a multi-Region primary with a replica in us-west-2
	kindMultiRegionExt            // a multi-Region EXTERNAL primary, no material yet
)

func (k barKeyKind) String() string {
	return [...]string{"none", "symmetric", "sign", "hmac", "external", "multi-Region", "multi-Region-external"}[k]
}

func (k barKeyKind) imported() bool { return k == kindExternal || k == kindMultiRegionExt }

// matrixKey is a key put in a state, with what was made with it while it
// was Enabled.
type matrixKey struct {
	id, arn, alias  string
	blob, sig, mac  []byte
	grantID         string
	token, wrapped  []byte // an import of the key's own material, ready to send
	material        []byte
	signedMessageOf []byte
}

// matrix makes the keys of the state matrix on one server.
type matrix struct {
	s    *testServer
	dest string // an Enabled symmetric key, ReEncrypt's destination
	n    int
}

func newMatrix(t *testing.T) *matrix {
	s := newServer(t)
	return &matrix{s: s, dest: aws.ToString(s.createKey("destination").KeyId)}
}

func (m *matrix) next() int { m.n++; return m.n }

// key makes a key of kind and puts it in the state of column col.
func (m *matrix) key(t *testing.T, kind barKeyKind, col string) *matrixKey {
	t.Helper()
	c := m.s.Client
	in := &kms.CreateKeyInput{}
	switch kind {
	case kindSign:
		in.KeySpec, in.KeyUsage = types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify
	case kindHMAC:
		in.KeySpec, in.KeyUsage = types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac
	case kindExternal:
		in.Origin = types.OriginTypeExternal
	case kindMultiRegion:
		in.MultiRegion = aws.Bool(true)
	case kindMultiRegionExt:
		in.MultiRegion, in.Origin = aws.Bool(true), types.OriginTypeExternal
	}
	ck, err := c.CreateKey(bg, in)
	if err != nil {
		t.Fatalf("CreateKey %s: %v", kind, err)
	}
	k := &matrixKey{id: aws.ToString(ck.KeyMetadata.KeyId), arn: aws.ToString(ck.KeyMetadata.Arn)}
	if kind == kindExternal {
		k.material = randomMaterial(t, 32)
		if err := importFor(t, c, k.id, types.WrappingKeySpecRsa2048, types.AlgorithmSpecRsaesOaepSha256, k.material); err != nil {
			t.Fatalf("import: %v", err)
		}
		p, err := c.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: aws.String(k.id), WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
		if err != nil {
			t.Fatal(err)
		}
		k.token, k.wrapped = p.ImportToken, opensslWrap(t, p.PublicKey, types.AlgorithmSpecRsaesOaepSha256, k.material)
	}
	if kind != kindMultiRegionExt {
		m.prepare(t, kind, k)
	}
	if kind == kindMultiRegion {
		_, err := c.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: &k.id, ReplicaRegion: aws.String(otherRegion)})
		barNoErr(t, err)
	}

	want := types.KeyState(col)
	switch col {
	case "Disabled":
		_, err := c.DisableKey(bg, &kms.DisableKeyInput{KeyId: &k.id})
		barNoErr(t, err)
	case "PendingDeletion":
		_, err := c.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: &k.id, PendingWindowInDays: aws.Int32(7)})
		barNoErr(t, err)
		if kind == kindMultiRegion {
			want = types.KeyStatePendingReplicaDeletion
		}
	case "PendingImport":
		if kind == kindExternal {
			if _, err := c.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(k.id)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: &k.id})
	barNoErr(t, err)
	if got := d.KeyMetadata.KeyState; got != want {
		t.Fatalf("a %s key is %s, want %s", kind, got, want)
	}
	return k
}

// prepare makes, while the key is Enabled, what later calls need: a
// ciphertext, signature or MAC, an alias and a grant.
func (m *matrix) prepare(t *testing.T, kind barKeyKind, k *matrixKey) {
	t.Helper()
	c := m.s.Client
	op := types.GrantOperationEncrypt
	switch kind {
	case kindSign:
		k.signedMessageOf = []byte("signed while enabled")
		out, err := c.Sign(bg, &kms.SignInput{KeyId: aws.String(k.id), Message: k.signedMessageOf, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		if err != nil {
			t.Fatal(err)
		}
		k.sig, op = out.Signature, types.GrantOperationSign
	case kindHMAC:
		out, err := c.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(k.id), Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
		if err != nil {
			t.Fatal(err)
		}
		k.mac, op = out.Mac, types.GrantOperationGenerateMac
	default:
		enc, err := c.Encrypt(bg, &kms.EncryptInput{KeyId: &k.id, Plaintext: []byte("made while enabled")})
		barNoErr(t, err)
		k.blob = enc.CiphertextBlob
	}
	k.alias = fmt.Sprintf("alias/matrix-%d", m.next())
	_, err := c.CreateAlias(bg, &kms.CreateAliasInput{AliasName: &k.alias, TargetKeyId: &k.id})
	barNoErr(t, err)
	g, err := c.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(k.id), GranteePrincipal: aws.String(bobB), Operations: []types.GrantOperation{op}})
	if err != nil {
		t.Fatal(err)
	}
	k.grantID = aws.ToString(g.GrantId)
}

// matrixOp is how the matrix calls one operation: on a key of kind, or of
// importKind in the PendingImport column.
type matrixOp struct {
	kind, importKind barKeyKind
	do               func(m *matrix, k *matrixKey) error
}

func symOp(do func(m *matrix, k *matrixKey) error) matrixOp {
	return matrixOp{kind: kindSymmetric, importKind: kindExternal, do: do}
}

// barErrOf drops an operation's output.
func barErrOf[T any](_ T, err error) error { return err }

var rootPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:root"},"Action":"kms:*","Resource":"*"}]}`

var matrixOps = map[string]matrixOp{
	"CancelKeyDeletion": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: &k.id}))
	}),
	"CreateAlias": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/new-%d", m.next())), TargetKeyId: &k.id}))
	}),
	"CreateGrant": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: &k.id, GranteePrincipal: aws.String(carolB), Operations: []types.GrantOperation{types.GrantOperationDecrypt}}))
	}),
	"Decrypt": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.Decrypt(bg, &kms.DecryptInput{KeyId: &k.id, CiphertextBlob: k.blob}))
	}),
	"DeleteAlias": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: &k.alias}))
	}),
	"DeleteImportedKeyMaterial": {kind: kindExternal, importKind: kindExternal, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.DeleteImportedKeyMaterial(bg, &kms.DeleteImportedKeyMaterialInput{KeyId: &k.id}))
	}},
	"DescribeKey": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: &k.id}))
	}),
	"DisableKey": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: &k.id}))
	}),
	"DisableKeyRotation": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.DisableKeyRotation(bg, &kms.DisableKeyRotationInput{KeyId: &k.id}))
	}),
	"EnableKey": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: &k.id}))
	}),
	"EnableKeyRotation": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: &k.id}))
	}),
	"Encrypt": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: &k.id, Plaintext: []byte("x")}))
	}),
	"GenerateDataKey": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: &k.id, NumberOfBytes: aws.Int32(32)}))
	}),
	"GenerateDataKeyPair": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GenerateDataKeyPair(bg, &kms.GenerateDataKeyPairInput{KeyId: &k.id, KeyPairSpec: types.DataKeyPairSpecEccNistP256}))
	}),
	"GenerateDataKeyPairWithoutPlaintext": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GenerateDataKeyPairWithoutPlaintext(bg, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: &k.id, KeyPairSpec: types.DataKeyPairSpecEccNistP256}))
	}),
	"GenerateDataKeyWithoutPlaintext": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &k.id, NumberOfBytes: aws.Int32(32)}))
	}),
	"GenerateMac": {kind: kindHMAC, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: &k.id, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256}))
	}},
	"GetKeyPolicy": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: &k.id}))
	}),
	"GetKeyRotationStatus": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: &k.id}))
	}),
	"GetParametersForImport": {kind: kindExternal, importKind: kindExternal, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GetParametersForImport(bg, &kms.GetParametersForImportInput{KeyId: &k.id, WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048}))
	}},
	"GetPublicKey": {kind: kindSign, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: &k.id}))
	}},
	"ImportKeyMaterial": {kind: kindExternal, importKind: kindExternal, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ImportKeyMaterial(bg, &kms.ImportKeyMaterialInput{KeyId: &k.id, ImportToken: k.token, EncryptedKeyMaterial: k.wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}))
	}},
	"ListAliases": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ListAliases(bg, &kms.ListAliasesInput{KeyId: &k.id}))
	}),
	"ListGrants": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ListGrants(bg, &kms.ListGrantsInput{KeyId: &k.id}))
	}),
	"ListKeyPolicies": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: &k.id}))
	}),
	"ListResourceTags": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: &k.id}))
	}),
	"PutKeyPolicy": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: &k.id, Policy: aws.String(rootPolicy)}))
	}),
	"ReEncrypt": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: k.blob, SourceKeyId: &k.id, DestinationKeyId: &m.dest}))
	}),
	"ReplicateKey": {kind: kindMultiRegion, importKind: kindMultiRegionExt, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: &k.id, ReplicaRegion: aws.String("eu-west-1")}))
	}},
	"RetireGrant": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.RetireGrant(bg, &kms.RetireGrantInput{KeyId: &k.arn, GrantId: &k.grantID}))
	}),
	"RevokeGrant": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &k.id, GrantId: &k.grantID}))
	}),
	"ScheduleKeyDeletion": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: &k.id, PendingWindowInDays: aws.Int32(7)}))
	}),
	"Sign": {kind: kindSign, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.Sign(bg, &kms.SignInput{KeyId: &k.id, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}))
	}},
	"TagResource": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: &k.id, Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("v")}}}))
	}),
	"UntagResource": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.UntagResource(bg, &kms.UntagResourceInput{KeyId: &k.id, TagKeys: []string{"k"}}))
	}),
	// The key under test becomes the alias's new target.
	"UpdateAlias": symOp(func(m *matrix, k *matrixKey) error {
		name := fmt.Sprintf("alias/moving-%d", m.next())
		if _, err := m.s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: &name, TargetKeyId: &m.dest}); err != nil {
			return fmt.Errorf("precondition: %w", err)
		}
		return barErrOf(m.s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: &name, TargetKeyId: &k.id}))
	}),
	"UpdateKeyDescription": symOp(func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: &k.id, Description: aws.String("new")}))
	}),
	// A PendingImport primary cannot have been replicated, so it has no
	// replica Region to move to.
	"UpdatePrimaryRegion": {kind: kindMultiRegion, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: &k.id, PrimaryRegion: aws.String(otherRegion)}))
	}},
	"Verify": {kind: kindSign, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.Verify(bg, &kms.VerifyInput{KeyId: &k.id, Message: k.signedMessageOf, Signature: k.sig, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}))
	}},
	"VerifyMac": {kind: kindHMAC, do: func(m *matrix, k *matrixKey) error {
		return barErrOf(m.s.Client.VerifyMac(bg, &kms.VerifyMacInput{KeyId: &k.id, Message: []byte("m"), Mac: k.mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256}))
	}},
}

// TestBarUpdateAliasFromAKeyPendingDeletion is note 10 of the key state
// table: an alias may be moved away from a key pending deletion (to an
// Enabled key), though not onto one.
func TestBarUpdateAliasFromAKeyPendingDeletion(t *testing.T) {
	m := newMatrix(t)
	k := m.key(t, kindSymmetric, "PendingDeletion")
	if _, err := m.s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: &k.alias, TargetKeyId: &m.dest}); err != nil {
		t.Fatalf("UpdateAlias away from a key pending deletion: %v", err)
	}
	if got := aws.ToString(m.s.describe(k.alias).KeyId); got != m.dest {
		t.Fatalf("%s resolves to %s, want %s", k.alias, got, m.dest)
	}
}
