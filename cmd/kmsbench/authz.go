package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// benchGrants is how many grants the enforced key carries.
const benchGrants = 1000

// benchKeyPolicy is a realistic key policy: the account, administrators,
// a user with an encryption-context condition, a partner account, and a
// conditional deny.
const benchKeyPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KeyAdmin"},
  "Action":["kms:Describe*","kms:Put*","kms:Enable*","kms:Disable*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},
 {"Sid":"App","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/app"},
  "Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
  "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"},"IpAddress":{"aws:SourceIp":["127.0.0.0/8","10.0.0.0/8"]}}},
 {"Sid":"Partner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
  "Condition":{"StringLike":{"kms:EncryptionContextKeys":"tenant*"}}},
 {"Sid":"NoDelete","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*",
  "Condition":{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/KeyAdmin"}}}
]}`

// runAuthz compares the server CPU of Encrypt in permissive dev mode (no
// signature check, no policy) with --enforce, where the caller is an IAM
// user allowed by a five-statement key policy with conditions and the key
// carries 1,000 grants for other principals.
func runAuthz(bin string, dur time.Duration, levels string, extra []string) error {
	ctx := context.Background()
	ec := map[string]string{"tenant": "acme"}
	pt := make([]byte, 32)
	encrypt := func(keyID *string) scenario {
		return scenario{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: pt, EncryptionContext: ec})
			return err
		}}
	}
	concs := parseLevels(levels)
	permissive := make(map[int]time.Duration)

	srv, err := start(bin, false, extra)
	if err != nil {
		return err
	}
	key, err := client(srv.url, 1).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		srv.stop()
		return err
	}
	fmt.Printf("\nauthorization cost: Encrypt 32B in permissive dev mode\n")
	header()
	for _, conc := range concs {
		if conc == 1 {
			continue
		}
		if permissive[conc], err = measureWith(ctx, srv, client(srv.url, conc), encrypt(key.KeyMetadata.KeyId), conc, dur); err != nil {
			srv.stop()
			return err
		}
	}
	srv.stop()

	srv, err = start(bin, true, extra)
	if err != nil {
		return err
	}
	defer srv.stop()
	root := client(srv.url, 8)
	akid, secret, err := benchUser(ctx, srv.url)
	if err != nil {
		return err
	}
	key, err = root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(benchKeyPolicy)})
	if err != nil {
		return fmt.Errorf("create key with the bench policy: %w", err)
	}
	if err := createGrants(ctx, root, key.KeyMetadata.KeyId); err != nil {
		return err
	}
	fmt.Printf("authorization cost: the same with --enforce, an IAM user, a 5-statement key policy and %d grants\n", benchGrants)
	header()
	for _, conc := range concs {
		if conc == 1 {
			continue
		}
		enforced, err := measureWith(ctx, srv, clientAs(srv.url, conc, akid, secret), encrypt(key.KeyMetadata.KeyId), conc, dur)
		if err != nil {
			return err
		}
		if p := permissive[conc]; p > 0 {
			fmt.Printf("  conc %d: %s enforced vs %s permissive: %+.1f%% server CPU per request\n",
				conc, enforced.Round(100*time.Nanosecond), p.Round(100*time.Nanosecond), 100*(float64(enforced)/float64(p)-1))
		}
	}
	return nil
}

// benchUser creates the IAM user and role the key policy names, and an
// access key of the user.
func benchUser(ctx context.Context, url string) (akid, secret string, err error) {
	c := iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""), RetryMaxAttempts: 1})
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("app")}); err != nil {
		return "", "", fmt.Errorf("create user: %w", err)
	}
	// The policy's administrators' role: principals a key policy names in
	// its own account must exist.
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("KeyAdmin"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		return "", "", fmt.Errorf("create role: %w", err)
	}
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	if err != nil {
		return "", "", fmt.Errorf("create access key: %w", err)
	}
	return *k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, nil
}

// createGrants puts benchGrants grants on the key, for principals other
// than the caller, so a request looks past them.
func createGrants(ctx context.Context, c *kms.Client, keyID *string) error {
	errs := make(chan error, 8)
	next := make(chan int)
	go func() {
		for i := range benchGrants {
			next <- i
		}
		close(next)
	}()
	for range 8 {
		go func() {
			for i := range next {
				_, err := c.CreateGrant(ctx, &kms.CreateGrantInput{
					KeyId:            keyID,
					GranteePrincipal: aws.String(fmt.Sprintf("arn:aws:iam::111122223333:role/service-%d", i)),
					Operations:       []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt},
					Constraints:      &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": strings.Repeat("t", i%7+1)}},
				})
				if err != nil {
					errs <- fmt.Errorf("create grant %d: %w", i, err)
					for range next { // let the feeder finish
					}
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range 8 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
