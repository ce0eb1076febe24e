package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestKeyARNAccountIsTwelveDigits: a key ARN whose account is not 12
// digits (AWS's account ID pattern) is an invalid ARN, not a key of an
// account that happens to have no such key.
func TestKeyARNAccountIsTwelveDigits(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	for _, account := range []string{"11112222333a", "1111-2222-33", "11112222333", "1111222233334"} {
		ref := "arn:aws:kms:" + testRegion + ":" + account + ":key/" + id
		_, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		wantError(t, err, "NotFoundException", "Invalid arn "+ref)
	}
	if d := s.describe(keyARN(testRegion, id)); aws.ToString(d.KeyId) != id {
		t.Fatalf("DescribeKey by ARN found %s", aws.ToString(d.KeyId))
	}
}
