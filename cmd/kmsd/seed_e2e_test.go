package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/fips140"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	circl65 "github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// openssl writes a private key with openssl genpkey, as a user would make
// the PEM they seed.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", append([]string{"genpkey"}, args...)...).Output()
	if err != nil {
		t.Fatalf("openssl genpkey %v: %v", args, err)
	}
	return string(out)
}

// mldsaSeedPEM writes an ML-DSA-65 private key in the seed-only form of
// RFC 9881: PKCS#8 whose privateKey is [0] IMPLICIT OCTET STRING (seed).
func mldsaSeedPEM(t *testing.T, seed []byte) string {
	t.Helper()
	inner, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: seed})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		Version    int
		Algorithm  struct{ Algorithm asn1.ObjectIdentifier }
		PrivateKey []byte
	}{0, struct{ Algorithm asn1.ObjectIdentifier }{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}}, inner})
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ")
}

const (
	seedSym      = "5eed0001-0000-4000-8000-000000000001"
	seedRSA      = "5eed0001-0000-4000-8000-000000000002"
	seedP256     = "5eed0001-0000-4000-8000-000000000003"
	seedK1       = "5eed0001-0000-4000-8000-000000000004"
	seedEd       = "5eed0001-0000-4000-8000-000000000005"
	seedMLDSA    = "5eed0001-0000-4000-8000-000000000006"
	seedHMAC     = "5eed0001-0000-4000-8000-000000000007"
	seedPending  = "5eed0001-0000-4000-8000-000000000008"
	seedImported = "5eed0001-0000-4000-8000-000000000009"
	seedMRK      = "mrk-5eed00010000400080000000000000aa"
	aliceKey     = "AKIASEEDALICE0000001"
	aliceSecret  = "alice-secret-for-seeded-fixtures-000000"
)

// writeFullSeed writes a seed of every key type users seed, with the
// identities the keys' policies and grants name.
func writeFullSeed(t *testing.T, dir string) string {
	t.Helper()
	mldsa := bytes.Repeat([]byte{7}, 32)
	if err := os.WriteFile(filepath.Join(dir, "ed25519.pem"), []byte(openssl(t, "-algorithm", "ed25519")), 0o600); err != nil {
		t.Fatal(err)
	}
	sym := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	hmacKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	seed := `users:
  - name: alice
    access_keys:
      - id: ` + aliceKey + `
        secret: ` + aliceSecret + `
roles:
  - name: App
    trust_policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}'
keys:
  - id: ` + seedSym + `
    description: symmetric
    material: ` + sym + `
    aliases: [alias/sym]
    tags: {env: test}
    policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Encrypt","Resource":"*"}]}'
    grants:
      - name: alice-decrypts
        grantee_principal: arn:aws:iam::111122223333:user/alice
        operations: [Decrypt]
        constraints:
          encryption_context_subset: {app: fixtures}
  - id: ` + seedRSA + `
    key_spec: RSA_2048
    key_usage: SIGN_VERIFY
    private_key: |
` + indent(openssl(t, "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")) + `
  - id: ` + seedP256 + `
    key_spec: ECC_NIST_P256
    private_key: |
` + indent(openssl(t, "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")) + `
` + nonFIPSKeys(t, mldsa) + `  - id: ` + seedEd + `
    key_spec: ECC_NIST_EDWARDS25519
    private_key_file: ed25519.pem
  - id: ` + seedHMAC + `
    key_spec: HMAC_256
    material: ` + hmacKey + `
  - id: ` + seedPending + `
    origin: EXTERNAL
    aliases: [alias/pending]
  - id: ` + seedImported + `
    origin: EXTERNAL
    material: ` + sym + `
  - id: ` + seedMRK + `
    material: ` + hmacKey + `
    aliases: [alias/mrk]
    replicas:
      - region: us-west-2
        aliases: [alias/mrk-west]
        tags: {side: west}
`
	path := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(path, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// nonFIPSKeys is the seed's secp256k1 and ML-DSA keys, which FIPS 140-only
// mode refuses (TestSeedRefusesNonFIPSKeysInFIPSMode): none in that mode.
func nonFIPSKeys(t *testing.T, mldsa []byte) string {
	if fips140.Enforced() {
		return ""
	}
	return `  - id: ` + seedK1 + `
    key_spec: ECC_SECG_P256K1
    private_key: |
` + indent(openssl(t, "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1")) + `
  - id: ` + seedMLDSA + `
    key_spec: ML_DSA_65
    private_key: |
` + indent(mldsaSeedPEM(t, mldsa)) + `
`
}

// TestSeedRefusesNonFIPSKeysInFIPSMode: in FIPS 140-only mode a seed naming
// a key spec outside the Go Cryptographic Module stops the start with the
// spec and the file line; in other modes the same seed is accepted.
func TestSeedRefusesNonFIPSKeysInFIPSMode(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seed, []byte("keys:\n  - id: "+seedK1+"\n    key_spec: ECC_SECG_P256K1\n    key_usage: SIGN_VERIFY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kmsdBin, "dev", "--ephemeral", "--seed", seed, "--listen", freeAddr(t))
	if !fips140.Enforced() {
		p := startKMSD(t, "dev", "--ephemeral", "--seed", seed)
		p.stop()
		return
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "seed.yaml line ") || !strings.Contains(string(out), "KeySpec ECC_SECG_P256K1 is not available in FIPS 140-only mode.") {
		t.Fatalf("seed of a secp256k1 key in FIPS 140-only mode: %v\n%s", err, out)
	}
}

// TestSeedEveryKeyType seeds two ephemeral `kmsd dev --enforce` servers
// from one file and checks through the SDK that each kind of key is
// there as seeded, and that what one server makes with a key (a blob, a
// signature, a MAC, a blob of a multi-Region key's primary) the other
// verifies or decrypts; the seeded user's fixed access key signs requests
// that its key policy and its seeded grant allow.
func TestSeedEveryKeyType(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seed := writeFullSeed(t, dir)
	a := startKMSD(t, "dev", "--enforce", "--ephemeral", "--seed", seed)
	b := startKMSD(t, "dev", "--enforce", "--ephemeral", "--seed", seed)
	want := "10 keys, 10 created now; 1 users, 1 roles"
	if fips140.Enforced() {
		want = "8 keys, 8 created now; 1 users, 1 roles"
	}
	if !strings.Contains(a.stdout.String(), want) {
		t.Errorf("seed summary:\n%s", a.stdout)
	}
	ca, cb := a.client(docKey, docSecret), b.client(docKey, docSecret)

	ec := map[string]string{"app": "fixtures"}
	enc, err := ca.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/sym"), Plaintext: []byte("fixture"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := cb.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "fixture" {
		t.Fatalf("symmetric blob across servers: %v", err)
	}

	msg := []byte("signed by one, verified by the other")
	for _, tc := range []struct {
		id  string
		alg types.SigningAlgorithmSpec
	}{
		{seedRSA, types.SigningAlgorithmSpecRsassaPssSha256},
		{seedP256, types.SigningAlgorithmSpecEcdsaSha256},
		{seedK1, types.SigningAlgorithmSpecEcdsaSha256},
		{seedEd, types.SigningAlgorithmSpecEd25519Sha512},
		{seedMLDSA, types.SigningAlgorithmSpecMlDsaShake256},
	} {
		if fips140.Enforced() && (tc.id == seedK1 || tc.id == seedMLDSA) {
			continue // not seeded in FIPS 140-only mode
		}
		sig, err := ca.Sign(ctx, &kms.SignInput{KeyId: aws.String(tc.id), Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: tc.alg})
		if err != nil {
			t.Fatalf("Sign with %s: %v", tc.id, err)
		}
		v, err := cb.Verify(ctx, &kms.VerifyInput{KeyId: aws.String(tc.id), Message: msg, MessageType: types.MessageTypeRaw, Signature: sig.Signature, SigningAlgorithm: tc.alg})
		if err != nil || !v.SignatureValid {
			t.Fatalf("Verify of %s's signature on the other server: %v", tc.id, err)
		}
		pa, _ := ca.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(tc.id)})
		pb, _ := cb.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(tc.id)})
		if pa == nil || pb == nil || !bytes.Equal(pa.PublicKey, pb.PublicKey) {
			t.Fatalf("%s has different public keys on the two servers", tc.id)
		}
		switch tc.id {
		case seedP256:
			pub, err := x509.ParsePKIXPublicKey(pa.PublicKey)
			h := sha256.Sum256(msg)
			if err != nil || !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), h[:], sig.Signature) {
				t.Fatalf("the P-256 signature does not verify offline: %v", err)
			}
		case seedMLDSA:
			// circl, not the module kmsd signs with, derives the key
			// from the seed in the PEM.
			pk, _ := circl65.NewKeyFromSeed((*[32]byte)(bytes.Repeat([]byte{7}, 32)))
			if !circl65.Verify(pk, msg, nil, sig.Signature) {
				t.Fatal("the ML-DSA signature does not verify under the key of the seeded seed")
			}
		}
	}

	mac, err := ca.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: aws.String(seedHMAC), Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cb.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: aws.String(seedHMAC), Message: msg, Mac: mac.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256}); err != nil || !v.MacValid {
		t.Fatalf("MAC across servers: %v", err)
	}

	enc, err = ca.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/mrk"), Plaintext: []byte("any Region")})
	if err != nil {
		t.Fatal(err)
	}
	west := kmsIn(b.url, "us-west-2", docKey, docSecret)
	if dec, err := west.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "any Region" {
		t.Fatalf("the replica in us-west-2 of the other server: %v", err)
	}
	d, err := west.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/mrk-west")})
	if err != nil || d.KeyMetadata.MultiRegionConfiguration == nil || d.KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica ||
		*d.KeyMetadata.MultiRegionConfiguration.PrimaryKey.Region != "us-east-1" {
		t.Fatalf("replica metadata: %+v, %v", d, err)
	}

	d, err = cb.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/pending")})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingImport || d.KeyMetadata.Origin != types.OriginTypeExternal {
		t.Fatalf("EXTERNAL key without material: %+v, %v", d.KeyMetadata, err)
	}
	enc, err = ca.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(seedImported), Plaintext: []byte("imported")})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := cb.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "imported" {
		t.Fatalf("EXTERNAL key with seeded material: %v", err)
	}

	// The seeded grant has the same id on both servers; alice signs with
	// her seeded access key: the key policy lets her encrypt, the grant
	// decrypt under its constraint, and nothing else.
	ga, err := ca.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(seedSym)})
	if err != nil || len(ga.Grants) != 1 {
		t.Fatalf("grants of the seeded key: %v", err)
	}
	gb, _ := cb.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(seedSym)})
	if gb == nil || len(gb.Grants) != 1 || *gb.Grants[0].GrantId != *ga.Grants[0].GrantId || *ga.Grants[0].Name != "alice-decrypts" {
		t.Fatal("the seeded grant differs between the servers")
	}
	alice := b.client(aliceKey, aliceSecret)
	enc, err = alice.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(seedSym), Plaintext: []byte("alice"), EncryptionContext: ec})
	if err != nil {
		t.Fatalf("alice encrypts under the key policy: %v", err)
	}
	if _, err := alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil {
		t.Fatalf("alice decrypts under the grant: %v", err)
	}
	if _, err := alice.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "other"}}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("alice decrypts outside the grant's constraint: %v", err)
	}
	if _, err := alice.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(seedSym)}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("alice describes the key: %v", err)
	}
	tags, err := cb.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(seedSym)})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagValue != "test" {
		t.Fatalf("tags: %v", err)
	}

	// A reset brings back exactly the seed: the same grant, the same
	// material, alice's key.
	if status, body := post(t, a.url+"/kmsd/reset"); status != 200 {
		t.Fatalf("reset: %d %s", status, body)
	}
	if dec, err := ca.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "alice" {
		t.Fatalf("after a reset, the seeded key decrypts: %v", err)
	}
	if _, err := a.client(aliceKey, aliceSecret).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(seedSym), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("after a reset, alice's seeded key: %v", err)
	}
}

// TestSeedErrorsNameTheLine checks that a seed kmsd refuses is reported
// with the file, the line and the setting.
func TestSeedErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ seed, want string }{
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    material: not-base64!\n",
			"line 3: keys[0].material: not base64"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    material: AAAA\n",
			"line 3: keys[0].material: a SYMMETRIC_DEFAULT key's material is 32 bytes, not 3"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n  - id: 5eed0002-0000-4000-8000-000000000002\n    key_spec: ECC_NIST_P256\n    key_usage: ENCRYPT_DECRYPT\n",
			"line 5: keys[1].key_usage: KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    key_spec: RSA_2048\n    private_key: |\n      -----BEGIN PRIVATE KEY-----\n      AAAA\n      -----END PRIVATE KEY-----\n",
			"line 4: keys[0].private_key: not a RSA_2048 private key"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    replicas:\n      - region: us-west-2\n",
			"line 3: keys[0].replicas: only a multi-Region key has replicas"},
		{"keys:\n  - id: mrk-5eed00020000400080000000000000aa\n    replicas:\n      - region: us-west-2\n      - region: us-east-1\n",
			"line 5: keys[0].replicas[1].region: the key already has a related key in us-east-1"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    grants:\n      - grantee_principal: arn:aws:iam::111122223333:user/bob\n        operations: [Sign]\n",
			"line 4: keys[0].grants[0]: Grant operations [Sign] are not valid"},
		{"keys:\n  - id: 5eed0002-0000-4000-8000-000000000001\n    policy: '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/nobody\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}'\n",
			"line 3: keys[0].policy: Policy contains a statement with one or more invalid principals."},
		{"users:\n  - name: bob\n    access_keys:\n      - id: short\n        secret: s\n",
			"line 4: users[0].access_keys[0].id: an access key id is 16 to 128"},
	} {
		path := filepath.Join(t.TempDir(), "seed.yaml")
		if err := os.WriteFile(path, []byte(tc.seed), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(context.Background(), []string{"dev", "--enforce", "--ephemeral", "--listen", "127.0.0.1:0", "--seed", path}, &out, &out, noEnv)
		if err == nil || !strings.Contains(err.Error(), "seed "+path+" "+tc.want) {
			t.Errorf("seed\n%s: %v\nwant %q", tc.seed, err, tc.want)
		}
	}
}
