package kmsapi

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkEncodeOutput compares json.Marshal with AppendJSON into a new
// buffer and into a reused one, on responses as the server writes them.
func BenchmarkEncodeOutput(b *testing.B) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	created := Time(time.Unix(1700000000, 123_000_000))
	outputs := []struct {
		name string
		v    Output
	}{
		{"EncryptOutput", &EncryptOutput{
			CiphertextBlob:      make([]byte, 184),
			KeyId:               arn,
			EncryptionAlgorithm: EncryptionAlgorithmSpecSymmetricDefault,
		}},
		{"DescribeKeyOutput", &DescribeKeyOutput{KeyMetadata: &KeyMetadata{
			AWSAccountId:          "111122223333",
			KeyId:                 "1234abcd-12ab-34cd-56ef-1234567890ab",
			Arn:                   arn,
			CreationDate:          created,
			Enabled:               Bool(true),
			Description:           "payments <prod> & staging",
			KeyUsage:              KeyUsageTypeEncryptDecrypt,
			KeyState:              KeyStateEnabled,
			Origin:                OriginTypeAWSKMS,
			KeyManager:            KeyManagerTypeCustomer,
			CustomerMasterKeySpec: CustomerMasterKeySpecSymmetricDefault,
			KeySpec:               KeySpecSymmetricDefault,
			EncryptionAlgorithms:  []EncryptionAlgorithmSpec{EncryptionAlgorithmSpecSymmetricDefault},
			MultiRegion:           Bool(false),
			CurrentKeyMaterialId:  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		}}},
	}
	for _, o := range outputs {
		b.Run(o.name+"/Marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(o.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(o.name+"/AppendJSON", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = o.v.AppendJSON(nil)
			}
		})
		b.Run(o.name+"/AppendJSONReuse", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = o.v.AppendJSON(buf[:0])
			}
		})
	}
}
