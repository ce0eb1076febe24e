package api_test

import (
	"bytes"
	"crypto/fips140"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/keys"
)

// wrapCombos are every WrappingAlgorithm × WrappingKeySpec AWS offers
// outside the China Regions.
var wrapCombos = func() (out []struct {
	alg  types.AlgorithmSpec
	spec types.WrappingKeySpec
}) {
	for _, alg := range []types.AlgorithmSpec{types.AlgorithmSpecRsaesOaepSha1, types.AlgorithmSpecRsaesOaepSha256, types.AlgorithmSpecRsaAesKeyWrapSha1, types.AlgorithmSpecRsaAesKeyWrapSha256} {
		for _, spec := range []types.WrappingKeySpec{types.WrappingKeySpecRsa2048, types.WrappingKeySpecRsa3072, types.WrappingKeySpecRsa4096} {
			out = append(out, struct {
				alg  types.AlgorithmSpec
				spec types.WrappingKeySpec
			}{alg, spec})
		}
	}
	return out
}()

// importCase is a key spec whose material openssl makes, and how kmsd's
// use of the imported material is checked with openssl from the outside.
type importCase struct {
	spec   types.KeySpec
	combo  int      // the index in wrapCombos this spec is imported with
	genkey []string // openssl genpkey arguments; nil for random bytes
	size   int      // bytes of random material
	sign   types.SigningAlgorithmSpec
	verify []string // openssl pkeyutl -verify arguments
	mac    string   // openssl digest name of the HMAC
}

// TestBarImportEveryKeySpecAndWrapping is check 19's round trip: material
// for every importable key spec, made by openssl, wrapped by openssl under
// each WrappingAlgorithm × WrappingKeySpec (each combination used at least
// once, RSA private keys only with RSA_AES_KEY_WRAP), imports and is the
// material kmsd then uses: signatures verify with the original public key,
// MACs equal openssl's, GetPublicKey returns the original key.
func TestBarImportEveryKeySpecAndWrapping(t *testing.T) {
	ecdsa := []string{"-digest", "sha256"}
	cases := []importCase{
		{spec: types.KeySpecSymmetricDefault, combo: 0, size: 32},
		{spec: types.KeySpecHmac224, combo: 1, size: 28, mac: "sha224"},
		{spec: types.KeySpecHmac256, combo: 2, size: 32, mac: "sha256"},
		{spec: types.KeySpecHmac384, combo: 3, size: 48, mac: "sha384"},
		{spec: types.KeySpecHmac512, combo: 4, size: 64, mac: "sha512"},
		{spec: types.KeySpecEccNistP256, combo: 5, genkey: []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, sign: types.SigningAlgorithmSpecEcdsaSha256, verify: ecdsa},
		{spec: types.KeySpecRsa2048, combo: 6, genkey: []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, sign: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256, verify: ecdsa},
		{spec: types.KeySpecEccNistEdwards25519, combo: 7, genkey: []string{"-algorithm", "ED25519"}, sign: types.SigningAlgorithmSpecEd25519Sha512},
		{spec: types.KeySpecRsa4096, combo: 8, genkey: []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"}, sign: types.SigningAlgorithmSpecRsassaPssSha256, verify: []string{"-digest", "sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32"}},
		{spec: types.KeySpecEccNistP384, combo: 9, genkey: []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}, sign: types.SigningAlgorithmSpecEcdsaSha384, verify: []string{"-digest", "sha384"}},
		{spec: types.KeySpecRsa3072, combo: 10, genkey: []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"}, sign: types.SigningAlgorithmSpecRsassaPkcs1V15Sha384, verify: []string{"-digest", "sha384"}},
		{spec: types.KeySpecEccNistP521, combo: 11, genkey: []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"}, sign: types.SigningAlgorithmSpecEcdsaSha512, verify: []string{"-digest", "sha512"}},
		{spec: types.KeySpecEccSecgP256k1, combo: 3, genkey: []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"}, sign: types.SigningAlgorithmSpecEcdsaSha256, verify: ecdsa},
	}
	used := map[int]bool{}
	for _, c := range cases {
		used[c.combo] = true
	}
	if len(used) != len(wrapCombos) {
		t.Fatalf("the cases use %d of the %d wrapping combinations", len(used), len(wrapCombos))
	}
	s := newServer(t)
	for _, c := range cases {
		combo := wrapCombos[c.combo]
		t.Run(string(c.spec)+"/"+string(combo.alg)+"/"+string(combo.spec), func(t *testing.T) {
			usage := types.KeyUsageTypeSignVerify
			switch {
			case c.spec == types.KeySpecSymmetricDefault:
				usage = types.KeyUsageTypeEncryptDecrypt
			case c.mac != "":
				usage = types.KeyUsageTypeGenerateVerifyMac
			}
			if refusedInFIPS(t, s.Client, c.spec, usage) {
				return
			}
			dir := t.TempDir()
			var material, spki []byte
			if c.genkey == nil {
				material = opensslRun(t, "rand", strconv.Itoa(c.size))
			} else {
				pem := filepath.Join(dir, "private.pem")
				opensslRun(t, append([]string{"genpkey", "-out", pem}, c.genkey...)...)
				material = opensslRun(t, "pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER")
				spki = opensslRun(t, "pkey", "-in", pem, "-pubout", "-outform", "DER")
			}
			ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: c.spec, KeyUsage: usage, Origin: types.OriginTypeExternal})
			barNoErr(t, err)
			id := aws.ToString(ck.KeyMetadata.KeyId)
			err = importFor(t, s.Client, id, combo.spec, combo.alg, material)
			if sha1 := strings.Contains(string(combo.alg), "SHA_1"); sha1 && fips140.Enforced() {
				wantError(t, err, "UnsupportedOperationException", "WrappingAlgorithm "+string(combo.alg)+" is not available in FIPS 140-only mode.")
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			d, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: &id})
			barNoErr(t, err)
			if st := d.KeyMetadata.KeyState; st != types.KeyStateEnabled {
				t.Fatalf("key is %s after import", st)
			}
			msg := []byte("made by kmsd with imported material")
			switch {
			case c.spec == types.KeySpecSymmetricDefault:
				enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: &id, Plaintext: msg, EncryptionContext: map[string]string{"spec": "symmetric"}})
				barNoErr(t, err)
				checkBlobMaterial(t, enc.CiphertextBlob, material, msg)
			case c.mac != "":
				out, err := s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: aws.String(id), Message: msg, MacAlgorithm: types.MacAlgorithmSpec("HMAC_" + strings.ToUpper(strings.Replace(c.mac, "sha", "SHA_", 1)))})
				if err != nil {
					t.Fatal(err)
				}
				want := opensslRun(t, "dgst", "-"+c.mac, "-binary", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(material), writeTemp(t, dir, "msg", msg))
				if !bytes.Equal(out.Mac, want) {
					t.Fatal("GenerateMac is not openssl's HMAC under the imported key")
				}
			default:
				pk, err := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: aws.String(id)})
				if err != nil || !bytes.Equal(pk.PublicKey, spki) {
					t.Fatalf("GetPublicKey is not the imported key's public key: %v", err)
				}
				sig, err := s.Client.Sign(bg, &kms.SignInput{KeyId: aws.String(id), Message: msg, SigningAlgorithm: c.sign})
				if err != nil {
					t.Fatal(err)
				}
				opensslVerify(t, spki, msg, sig.Signature, c.verify...)
			}
		})
	}
}

// checkBlobMaterial decrypts a symmetric blob outside kmsd, with the
// imported material and the documented format, so the material kmsd
// used is known to be the one imported.
func checkBlobMaterial(t *testing.T, blob, material, want []byte) {
	t.Helper()
	got, err := keys.DecryptBlob(blob, material, map[string]string{"spec": "symmetric"})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the blob does not decrypt under the imported material: %v", err)
	}
}
