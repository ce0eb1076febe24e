package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// fakeKMS keeps data keys by their blob, and refuses like AWS KMS does.
type fakeKMS struct {
	keys     map[string][]byte
	disabled bool
	contexts []map[string]string
}

func (f *fakeKMS) GenerateDataKey(_ context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	f.contexts = append(f.contexts, maps.Clone(in.EncryptionContext))
	k, blob := make([]byte, 32), make([]byte, 150)
	rand.Read(k)
	rand.Read(blob)
	f.keys[string(blob)] = bytes.Clone(k)
	return &kms.GenerateDataKeyOutput{Plaintext: k, CiphertextBlob: blob, KeyId: in.KeyId}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.contexts = append(f.contexts, maps.Clone(in.EncryptionContext))
	if f.disabled {
		return nil, &smithy.GenericAPIError{Code: "DisabledException", Message: aws.ToString(in.KeyId) + " is disabled."}
	}
	k, ok := f.keys[string(in.CiphertextBlob)]
	if !ok || in.EncryptionContext["kmsd-purpose"] != "root-keyring/v1" {
		return nil, &smithy.GenericAPIError{Code: "InvalidCiphertextException"}
	}
	return &kms.DecryptOutput{Plaintext: bytes.Clone(k)}, nil
}

func TestAWSKMSSeal(t *testing.T) {
	fake := &fakeKMS{keys: map[string][]byte{}}
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	p := NewAWSKMSWithClient(AWSKMSConfig{KeyID: arn, Endpoint: "http://127.0.0.1:1", Region: "us-east-1"}, fake)
	path := filepath.Join(t.TempDir(), "root.key")
	s, err := CreateWith(path, p)
	if err != nil {
		t.Fatal(err)
	}
	assertNoRootKey(t, path, s)
	if _, err := OpenWith(path, p); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if kind, params := Recorded(data); kind != "awskms" || params["keyId"] != arn || params["endpoint"] != "http://127.0.0.1:1" || params["region"] != "us-east-1" {
		t.Fatalf("recorded seal %s %v", kind, params)
	}
	for _, c := range fake.contexts {
		if len(c) != 1 || c["kmsd-purpose"] != "root-keyring/v1" {
			t.Fatalf("encryption context %v, want the keyring's purpose", c)
		}
	}
	fake.disabled = true
	_, err = OpenWith(path, p)
	for _, want := range []string{"Decrypt: DisabledException: " + arn + " is disabled.", arn, "http://127.0.0.1:1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("opening under a disabled key: %v, want it to say %q", err, want)
		}
	}
}
