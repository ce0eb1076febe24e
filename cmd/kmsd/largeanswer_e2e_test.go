package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestLargeAnswersArriveWhole reads a 9 KB key policy 400 times over one
// connection through the SDK with retries off, as every test client here
// does. Sent through the SDK's own HTTP client, one in a few dozen such
// answers failed with "use of closed network connection": net/http read
// the SDK's request body again after kmsd had answered and the SDK had
// closed it, and dropped the connection mid-answer (internal/sdkhttp).
func TestLargeAnswersArriveWhole(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--ephemeral")
	c := p.client(docKey, docSecret)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`}
	for i := range 60 {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"ReadersOfTheKeyNumber%03d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/reader-%03d"},"Action":["kms:DescribeKey","kms:GetKeyPolicy"],"Resource":"*"}`, i, i))
	}
	policy := `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
	if _, err := c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyMetadata.KeyId, Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		out, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: k.KeyMetadata.KeyId})
		if err != nil {
			t.Fatalf("GetKeyPolicy %d: %v", i, err)
		}
		if len(*out.Policy) < 9000 {
			t.Fatalf("GetKeyPolicy %d: a policy of %d bytes", i, len(*out.Policy))
		}
	}
}
