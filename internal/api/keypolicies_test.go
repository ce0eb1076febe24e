package api_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func TestKeyPolicies(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)

	got, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.PolicyName) != "default" {
		t.Errorf("PolicyName = %q", aws.ToString(got.PolicyName))
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal struct{ AWS string }
			Action    string
			Resource  string
		}
	}
	if err := json.Unmarshal([]byte(aws.ToString(got.Policy)), &doc); err != nil {
		t.Fatalf("default policy is not JSON: %v", err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 || doc.Statement[0].Effect != "Allow" ||
		doc.Statement[0].Principal.AWS != "arn:aws:iam::"+testAccount+":root" || doc.Statement[0].Action != "kms:*" || doc.Statement[0].Resource != "*" {
		t.Errorf("default policy = %s", aws.ToString(got.Policy))
	}
	// PolicyName may be left out.
	if _, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)}); err != nil {
		t.Errorf("GetKeyPolicy without PolicyName: %v", err)
	}

	lp, err := s.Client.ListKeyPolicies(bg, &kms.ListKeyPoliciesInput{KeyId: aws.String(keyARN(testRegion, id))})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lp.PolicyNames, []string{"default"}) || lp.Truncated {
		t.Errorf("ListKeyPolicies = %v, Truncated %v", lp.PolicyNames, lp.Truncated)
	}

	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"mine","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	if _, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	checkPolicy := func(want string) {
		t.Helper()
		got, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.Policy) != want {
			t.Errorf("policy = %s, want %s", aws.ToString(got.Policy), want)
		}
	}
	checkPolicy(policy)

	// A policy of exactly 32768 bytes is accepted; one byte more is not.
	max := bigPolicy(32768)
	if _, err := s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(max)}); err != nil {
		t.Fatalf("PutKeyPolicy of 32768 bytes: %v", err)
	}
	checkPolicy(max)
	_, err = s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(bigPolicy(32769))})
	wantCode(t, err, "LimitExceededException")
	for _, bad := range []string{"not json", `{"Version":"2012-10-17"`, `[1,2,3]`} {
		_, err = s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(id), Policy: aws.String(bad)})
		wantCode(t, err, "MalformedPolicyDocumentException")
	}
	checkPolicy(max)

	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	_, err = s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(unknown)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
	_, err = s.Client.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(unknown), Policy: aws.String(policy)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
}
