package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	s := newServer(t)
	md := s.createKey("")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)
	mid := aws.ToString(md.CurrentKeyMaterialId)

	for _, size := range []int{1, 16, 1000, 4096} {
		pt := bytes.Repeat([]byte{byte(size)}, size)
		ec := map[string]string{"purpose": "test", "size": strings.Repeat("n", size%7)}
		enc := s.encrypt(id, pt, ec)
		if aws.ToString(enc.KeyId) != arn {
			t.Errorf("Encrypt KeyId = %q, want %q", aws.ToString(enc.KeyId), arn)
		}
		if enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Errorf("EncryptionAlgorithm = %q", enc.EncryptionAlgorithm)
		}
		if len(enc.CiphertextBlob) > 6144 {
			t.Errorf("a %d-byte plaintext gave a %d-byte ciphertext", size, len(enc.CiphertextBlob))
		}
		if bytes.Contains(enc.CiphertextBlob, pt) && size > 4 {
			t.Error("ciphertext contains the plaintext")
		}
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Decrypt of %d bytes: %v", size, err)
		}
		if !bytes.Equal(dec.Plaintext, pt) {
			t.Fatalf("round trip of %d bytes changed the plaintext", size)
		}
		if aws.ToString(dec.KeyId) != arn || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || aws.ToString(dec.KeyMaterialId) != mid {
			t.Errorf("Decrypt KeyId %q, algorithm %q, KeyMaterialId %q; want %q, SYMMETRIC_DEFAULT, %q",
				aws.ToString(dec.KeyId), dec.EncryptionAlgorithm, aws.ToString(dec.KeyMaterialId), arn, mid)
		}
	}

	// Two encryptions of one plaintext differ.
	a := s.encrypt(id, []byte("same"), nil).CiphertextBlob
	b := s.encrypt(id, []byte("same"), nil).CiphertextBlob
	if bytes.Equal(a, b) {
		t.Error("two encryptions gave the same ciphertext")
	}

	// Decrypt accepts a KeyId that names the right key in any form, and an
	// explicit SYMMETRIC_DEFAULT algorithm.
	for _, ref := range []string{id, arn} {
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: a, KeyId: aws.String(ref), EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault})
		if err != nil || string(dec.Plaintext) != "same" {
			t.Errorf("Decrypt with KeyId %s: %v", ref, err)
		}
	}
	s.createAlias("alias/rt", id)
	for _, ref := range []string{"alias/rt", aliasARN(testRegion, "alias/rt")} {
		dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: a, KeyId: aws.String(ref)})
		if err != nil || string(dec.Plaintext) != "same" {
			t.Errorf("Decrypt with KeyId %s: %v", ref, err)
		}
	}
}

func TestDecryptWithWrongKeyId(t *testing.T) {
	s := newServer(t)
	k1 := aws.ToString(s.createKey("one").KeyId)
	k2 := aws.ToString(s.createKey("two").KeyId)
	s.createAlias("alias/two", k2)
	blob := s.encrypt(k1, []byte("for one"), nil).CiphertextBlob

	const incorrect = "The key ID in the request does not identify a CMK that can perform this operation."
	for _, ref := range []string{k2, keyARN(testRegion, k2), "alias/two"} {
		_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(ref)})
		wantError(t, err, "IncorrectKeyException", incorrect)
	}
	_, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, SourceKeyId: aws.String(k2), DestinationKeyId: aws.String(k2)})
	wantError(t, err, "IncorrectKeyException", incorrect)

	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
}

func TestReEncrypt(t *testing.T) {
	s := newServer(t)
	src := s.createKey("src")
	dst := s.createKey("dst")
	s.createAlias("alias/dst", aws.ToString(dst.KeyId))
	srcEC := map[string]string{"from": "src"}
	dstEC := map[string]string{"to": "dst"}
	blob := s.encrypt(aws.ToString(src.KeyId), []byte("moving"), srcEC).CiphertextBlob

	out, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{
		CiphertextBlob:               blob,
		SourceEncryptionContext:      srcEC,
		SourceKeyId:                  src.KeyId,
		DestinationKeyId:             aws.String("alias/dst"),
		DestinationEncryptionContext: dstEC,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.SourceKeyId) != aws.ToString(src.Arn) || aws.ToString(out.KeyId) != aws.ToString(dst.Arn) {
		t.Errorf("SourceKeyId %q, KeyId %q; want %q, %q", aws.ToString(out.SourceKeyId), aws.ToString(out.KeyId), aws.ToString(src.Arn), aws.ToString(dst.Arn))
	}
	if out.SourceEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault || out.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("algorithms %q, %q", out.SourceEncryptionAlgorithm, out.DestinationEncryptionAlgorithm)
	}
	if aws.ToString(out.SourceKeyMaterialId) != aws.ToString(src.CurrentKeyMaterialId) || aws.ToString(out.DestinationKeyMaterialId) != aws.ToString(dst.CurrentKeyMaterialId) {
		t.Errorf("SourceKeyMaterialId %q, DestinationKeyMaterialId %q", aws.ToString(out.SourceKeyMaterialId), aws.ToString(out.DestinationKeyMaterialId))
	}

	// The new ciphertext decrypts under the destination key and its context only.
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: dstEC})
	if err != nil || string(dec.Plaintext) != "moving" || aws.ToString(dec.KeyId) != aws.ToString(dst.Arn) {
		t.Fatalf("Decrypt of re-encrypted blob: %v", err)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: srcEC})
	wantError(t, err, "InvalidCiphertextException", "")

	// SourceKeyId is optional for symmetric keys.
	if _, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcEC, DestinationKeyId: dst.KeyId}); err != nil {
		t.Errorf("ReEncrypt without SourceKeyId: %v", err)
	}
	// Wrong source context.
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: dst.KeyId})
	wantError(t, err, "InvalidCiphertextException", "")

	// A disabled source or destination refuses.
	s.disable(aws.ToString(dst.KeyId))
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcEC, DestinationKeyId: dst.KeyId})
	wantError(t, err, "DisabledException", aws.ToString(dst.Arn)+" is disabled.")
	s.disable(aws.ToString(src.KeyId))
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: srcEC, DestinationKeyId: aws.String(aws.ToString(s.createKey("").KeyId))})
	wantError(t, err, "DisabledException", aws.ToString(src.Arn)+" is disabled.")
}

func TestGenerateDataKey(t *testing.T) {
	s := newServer(t)
	md := s.createKey("")
	id, arn := aws.ToString(md.KeyId), aws.ToString(md.Arn)
	ec := map[string]string{"bucket": "b1"}

	cases := []struct {
		name string
		spec types.DataKeySpec
		n    *int32
		want int
	}{
		{"AES_256", types.DataKeySpecAes256, nil, 32},
		{"AES_128", types.DataKeySpecAes128, nil, 16},
		{"1 byte", "", aws.Int32(1), 1},
		{"1024 bytes", "", aws.Int32(1024), 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Plaintext) != tc.want {
				t.Errorf("Plaintext is %d bytes, want %d", len(out.Plaintext), tc.want)
			}
			if aws.ToString(out.KeyId) != arn || aws.ToString(out.KeyMaterialId) != aws.ToString(md.CurrentKeyMaterialId) {
				t.Errorf("KeyId %q, KeyMaterialId %q", aws.ToString(out.KeyId), aws.ToString(out.KeyMaterialId))
			}
			dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.Plaintext, out.Plaintext) {
				t.Error("the data key ciphertext does not decrypt to the data key")
			}

			wo, err := s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), KeySpec: tc.spec, NumberOfBytes: tc.n, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(wo.KeyId) != arn || aws.ToString(wo.KeyMaterialId) != aws.ToString(md.CurrentKeyMaterialId) {
				t.Errorf("WithoutPlaintext KeyId %q, KeyMaterialId %q", aws.ToString(wo.KeyId), aws.ToString(wo.KeyMaterialId))
			}
			dec, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: wo.CiphertextBlob, EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if len(dec.Plaintext) != tc.want {
				t.Errorf("WithoutPlaintext data key is %d bytes, want %d", len(dec.Plaintext), tc.want)
			}
		})
	}

	out, err := s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.KeyId) != arn || aws.ToString(out.KeyMaterialId) != aws.ToString(md.CurrentKeyMaterialId) {
		t.Errorf("KeyId %q, KeyMaterialId %q", aws.ToString(out.KeyId), aws.ToString(out.KeyMaterialId))
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
	if err != nil || len(dec.Plaintext) != 32 {
		t.Fatalf("Decrypt of GenerateDataKeyWithoutPlaintext blob: %v", err)
	}

	// Two data keys differ.
	a, _ := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	b, _ := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	if a == nil || b == nil || bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Error("two data keys are equal (or failed)")
	}
}

func TestGenerateDataKeyValidation(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	cases := []struct {
		name string
		spec types.DataKeySpec
		n    *int32
		msg  string
	}{
		{"neither", "", nil, ""},
		{"both", types.DataKeySpecAes256, aws.Int32(32), ""},
		{"0 bytes", "", aws.Int32(0), "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"1025 bytes", "", aws.Int32(1025), "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
		{"bad spec", "AES_512", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: tc.spec, NumberOfBytes: tc.n})
			msg := wantCode(t, err, "ValidationException")
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			_, err = s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), KeySpec: tc.spec, NumberOfBytes: tc.n})
			msg = wantCode(t, err, "ValidationException")
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("WithoutPlaintext message %q, want %q", msg, tc.msg)
			}
		})
	}
}

func TestGenerateRandom(t *testing.T) {
	s := newServer(t)
	for _, n := range []int32{1, 32, 1024} {
		out, err := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(n)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Plaintext) != int(n) {
			t.Errorf("GenerateRandom(%d) returned %d bytes", n, len(out.Plaintext))
		}
	}
	a, _ := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	b, _ := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	if a == nil || b == nil || bytes.Equal(a.Plaintext, b.Plaintext) {
		t.Error("two random strings are equal (or failed)")
	}
	cases := []struct {
		n   *int32
		msg string
	}{
		{nil, "NumberOfBytes is required."},
		{aws.Int32(0), "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{aws.Int32(1025), "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
	}
	for _, tc := range cases {
		_, err := s.Client.GenerateRandom(bg, &kms.GenerateRandomInput{NumberOfBytes: tc.n})
		wantError(t, err, "ValidationException", tc.msg)
	}
}

func TestCryptoSizeLimits(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)

	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: make([]byte, 4097)})
	wantError(t, err, "ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")

	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: make([]byte, 6145)})
	wantError(t, err, "ValidationException", "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144")
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: make([]byte, 6145), DestinationKeyId: aws.String(id)})
	wantError(t, err, "ValidationException", "1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to 6144")

	// A ciphertext of 6144 bytes is not a size error (it is not a valid blob either).
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: make([]byte, 6144)})
	wantError(t, err, "InvalidCiphertextException", "")
}

func TestDryRun(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	blob := s.encrypt(id, []byte("dry"), nil).CiphertextBlob
	const dry = "The request would have succeeded, but the DryRun option is set."
	yes := aws.Bool(true)

	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x"), DryRun: yes})
	wantError(t, err, "DryRunOperationException", dry)
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, DryRun: yes})
	wantError(t, err, "DryRunOperationException", dry)
	_, err = s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: aws.String(id), DryRun: yes})
	wantError(t, err, "DryRunOperationException", dry)
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, DryRun: yes})
	wantError(t, err, "DryRunOperationException", dry)
	_, err = s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, DryRun: yes})
	wantError(t, err, "DryRunOperationException", dry)

	// DryRun false behaves as usual.
	if _, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x"), DryRun: aws.Bool(false)}); err != nil {
		t.Errorf("DryRun=false: %v", err)
	}

	// A dry run still reports what the real call would: a disabled key,
	// a bad ciphertext.
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: []byte("garbage"), DryRun: yes})
	wantCode(t, err, "InvalidCiphertextException")
	s.disable(id)
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x"), DryRun: yes})
	wantCode(t, err, "DisabledException")
}

func TestEncryptionContext(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	ec := map[string]string{"Department": "Finance", "Project": "Q3"}

	// The ways a ciphertext can be made under ec, each with the plaintext it holds.
	type made struct {
		name string
		blob []byte
		pt   []byte
	}
	var blobs []made
	enc := s.encrypt(id, []byte("context bound"), ec)
	blobs = append(blobs, made{"Encrypt", enc.CiphertextBlob, []byte("context bound")})
	gdk, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	blobs = append(blobs, made{"GenerateDataKey", gdk.CiphertextBlob, gdk.Plaintext})
	gwo, err := s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(24), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	blobs = append(blobs, made{"GenerateDataKeyWithoutPlaintext", gwo.CiphertextBlob, nil})

	wrong := []struct {
		name string
		ec   map[string]string
	}{
		{"missing", nil},
		{"empty", map[string]string{}},
		{"wrong value", map[string]string{"Department": "Finance", "Project": "Q4"}},
		{"wrong key", map[string]string{"Department": "Finance", "project": "Q3"}},
		{"value case", map[string]string{"Department": "finance", "Project": "Q3"}},
		{"extra pair", map[string]string{"Department": "Finance", "Project": "Q3", "Extra": "1"}},
		{"missing pair", map[string]string{"Department": "Finance"}},
		{"key and value swapped", map[string]string{"Finance": "Department", "Project": "Q3"}},
	}
	for _, b := range blobs {
		t.Run(b.name, func(t *testing.T) {
			for _, w := range wrong {
				_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: b.blob, EncryptionContext: w.ec})
				if err == nil {
					t.Fatalf("%s context decrypted", w.name)
				}
				wantError(t, err, "InvalidCiphertextException", "")
			}
			// The same pairs, written in another order, decrypt.
			out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: b.blob, EncryptionContext: map[string]string{"Project": "Q3", "Department": "Finance"}})
			if err != nil {
				t.Fatal(err)
			}
			if b.pt != nil && !bytes.Equal(out.Plaintext, b.pt) {
				t.Error("wrong plaintext")
			}
		})
	}

	// An empty context is the same as none, both ways.
	e1 := s.encrypt(id, []byte("no context"), map[string]string{}).CiphertextBlob
	e2 := s.encrypt(id, []byte("no context"), nil).CiphertextBlob
	for _, blob := range [][]byte{e1, e2} {
		for _, ctx := range []map[string]string{nil, {}} {
			out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ctx})
			if err != nil || string(out.Plaintext) != "no context" {
				t.Errorf("empty vs absent context: %v", err)
			}
		}
		_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"a": "b"}})
		wantError(t, err, "InvalidCiphertextException", "")
	}
}

// TestTamperedCiphertext flips every bit of a ciphertext, one at a time.
// Each change must fail, with nothing more specific than
// InvalidCiphertextException (no oracle), except that a change in the
// embedded key ID may name a key that does not exist.
func TestTamperedCiphertext(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	blob := s.encrypt(id, []byte("tamper me"), map[string]string{"a": "b"}).CiphertextBlob
	keyIDStart, keyIDEnd := 2, 2+len(id)
	if len(blob) < keyIDEnd || string(blob[keyIDStart:keyIDEnd]) != id {
		t.Logf("blob does not carry the key id at offset 2; checking every byte strictly")
		keyIDStart, keyIDEnd = 0, 0
	}
	for i := range blob {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(blob)
			bad[i] ^= bit
			_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: map[string]string{"a": "b"}})
			if err == nil {
				t.Fatalf("flipping bit %#x of byte %d still decrypts", bit, i)
			}
			code := apiError(t, err).ErrorCode()
			if i >= keyIDStart && i < keyIDEnd && looksLikeKeyID(string(bad[keyIDStart:keyIDEnd])) && code == "AccessDeniedException" {
				// Another well-formed key ID, of a key that does not exist.
				continue
			}
			if code != "InvalidCiphertextException" || apiError(t, err).ErrorMessage() != "" {
				t.Fatalf("byte %d bit %#x: got %s %q, want InvalidCiphertextException with no message", i, bit, code, apiError(t, err).ErrorMessage())
			}
		}
	}
	for _, bad := range [][]byte{blob[:len(blob)-1], blob[:10], append(bytes.Clone(blob), 0), {0}} {
		_, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: map[string]string{"a": "b"}})
		wantError(t, err, "InvalidCiphertextException", "")
	}
}

// looksLikeKeyID reports whether s has the form of a key UUID.
func looksLikeKeyID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
