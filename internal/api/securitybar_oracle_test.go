package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestBarNoSuchKeyLooksLikeAnotherAccountsKey is the second half of check
// 38: a caller of another account naming a key ARN of this account gets
// the same AccessDeniedException whether the key exists or not, so the
// answer reveals nothing about which keys exist.
func TestBarNoSuchKeyLooksLikeAnotherAccountsKey(t *testing.T) {
	s := startBarServer(t, barOptions{})
	existing := aws.ToString(s.createKey("private").Arn)
	missing := keyARN(testRegion, "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f")
	other := s.as(rootB)
	for _, op := range []struct {
		action string
		call   func(keyID string) error
	}{
		{"kms:Encrypt", func(k string) error {
			_, err := other.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k), Plaintext: []byte("x")})
			return err
		}},
		{"kms:DescribeKey", func(k string) error {
			_, err := other.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(k)})
			return err
		}},
		{"kms:GenerateDataKey", func(k string) error {
			_, err := other.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(k), NumberOfBytes: aws.Int32(16)})
			return err
		}},
		{"kms:GetKeyPolicy", func(k string) error {
			_, err := other.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(k)})
			return err
		}},
	} {
		t.Run(op.action, func(t *testing.T) {
			for _, k := range []string{existing, missing} {
				err := op.call(k)
				want := "User: " + rootB + " is not authorized to perform: " + op.action + " on resource: " + k + " because no resource-based policy allows the " + op.action + " action"
				wantError(t, err, "AccessDeniedException", want)
			}
		})
	}
}
