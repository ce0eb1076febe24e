package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

// keyringContext is the encryption context of every call an awskms seal
// makes: it binds the data key to this purpose, so a key policy can allow
// it alone (kms:EncryptionContext:kmsd-purpose) and CloudTrail shows it.
var keyringContext = map[string]string{"kmsd-purpose": "root-keyring/v1"}

// keyringAAD binds the keyring ciphertext to its purpose under a data key.
const keyringAAD = "kmsd/root-keyring/v1"

// awsCallTimeout bounds each call to the KMS endpoint.
const awsCallTimeout = 30 * time.Second

// KMSClient is the part of the AWS KMS API an awskms seal calls.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// AWSKMSConfig says which KMS key wraps the keyring and where it is.
// Credentials come from the AWS SDK's default chain (environment, shared
// files and profiles, SSO, web identity, container and instance roles).
type AWSKMSConfig struct {
	KeyID    string // key id, key ARN, alias name or alias ARN
	Endpoint string // "" for AWS KMS in Region
	Region   string // "" for the SDK's default Region
}

// AWSKMS wraps the keyring with envelope encryption under a KMS key: a
// fresh AES-256 data key from GenerateDataKey encrypts the keyring with
// AES-GCM, and only the data key's CiphertextBlob is stored with it. So
// any keyring size fits, and opening it takes one Decrypt call.
type AWSKMS struct {
	cfg    AWSKMSConfig
	client KMSClient
}

// NewAWSKMS returns an awskms seal calling the KMS endpoint of cfg with
// the SDK's default credential chain.
func NewAWSKMS(ctx context.Context, cfg AWSKMSConfig) (*AWSKMS, error) {
	if cfg.KeyID == "" {
		return nil, errors.New("seal awskms: give the wrapping key's id or ARN (--seal-awskms-key-id)")
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("seal awskms: load AWS configuration: %w", err)
	}
	if ac.Region == "" {
		return nil, errors.New("seal awskms: no Region: give --seal-awskms-region or set AWS_REGION")
	}
	cfg.Region = ac.Region
	client := kms.NewFromConfig(ac, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return NewAWSKMSWithClient(cfg, client), nil
}

// NewAWSKMSWithClient returns an awskms seal calling client.
func NewAWSKMSWithClient(cfg AWSKMSConfig, client KMSClient) *AWSKMS {
	return &AWSKMS{cfg: cfg, client: client}
}

// Kind is "awskms".
func (*AWSKMS) Kind() string { return "awskms" }

// Describe names the key and the endpoint.
func (a *AWSKMS) Describe() string {
	where := "AWS KMS in " + a.cfg.Region
	if a.cfg.Endpoint != "" {
		where = a.cfg.Endpoint + " (Region " + a.cfg.Region + ")"
	}
	return "KMS key " + a.cfg.KeyID + " at " + where
}

// Params records the key, endpoint and Region in the wrapped file.
func (a *AWSKMS) Params() map[string]string {
	return map[string]string{"keyId": a.cfg.KeyID, "endpoint": a.cfg.Endpoint, "region": a.cfg.Region}
}

// Wrap encrypts plaintext under a new data key of the KMS key:
// len(blob) (2, big endian) | data key CiphertextBlob | AES-GCM sealed keyring.
func (a *AWSKMS) Wrap(plaintext []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), awsCallTimeout)
	defer cancel()
	out, err := a.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(a.cfg.KeyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: keyringContext,
	})
	if err != nil {
		return nil, awsError("GenerateDataKey", err)
	}
	defer clear(out.Plaintext)
	if len(out.CiphertextBlob) > 0xFFFF {
		return nil, errors.New("GenerateDataKey answered an oversized CiphertextBlob")
	}
	gcm, err := dataKeyAEAD(out.Plaintext)
	if err != nil {
		return nil, err
	}
	w := binary.BigEndian.AppendUint16(nil, uint16(len(out.CiphertextBlob)))
	w = append(w, out.CiphertextBlob...)
	return gcm.Seal(w, nil, plaintext, []byte(keyringAAD)), nil
}

// Unwrap decrypts the data key with the KMS key and opens the keyring.
func (a *AWSKMS) Unwrap(wrapped []byte) ([]byte, error) {
	if len(wrapped) < 2 || len(wrapped) < 2+int(binary.BigEndian.Uint16(wrapped)) {
		return nil, errors.New("the wrapped keyring is truncated")
	}
	n := 2 + int(binary.BigEndian.Uint16(wrapped))
	ctx, cancel := context.WithTimeout(context.Background(), awsCallTimeout)
	defer cancel()
	out, err := a.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob: wrapped[2:n], KeyId: aws.String(a.cfg.KeyID), EncryptionContext: keyringContext,
	})
	if err != nil {
		return nil, awsError("Decrypt", err)
	}
	defer clear(out.Plaintext)
	gcm, err := dataKeyAEAD(out.Plaintext)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nil, wrapped[n:], []byte(keyringAAD))
	if err != nil {
		return nil, errors.New("the wrapped keyring fails authentication under its data key")
	}
	return plain, nil
}

func dataKeyAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the KMS endpoint returned a %d-byte data key, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}

// awsError keeps AWS's exception name and message, which the operator
// needs (DisabledException, AccessDeniedException, NotFoundException…).
func awsError(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s: %s", op, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("%s: %w", op, err)
}
