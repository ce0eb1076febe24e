package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// wantAlwaysMembers checks the KeyMetadata members AWS returns for every key
// (as recorded against the real service: every recorded KeyMetadata has
// them, whatever the key spec, origin or state), with Description present
// even when the key has none.
func wantAlwaysMembers(t *testing.T, what string, md *types.KeyMetadata, desc string) {
	t.Helper()
	missing := map[string]bool{
		"AWSAccountId": md.AWSAccountId == nil,
		"Arn":          md.Arn == nil,
		"CreationDate": md.CreationDate == nil,
		"Description":  md.Description == nil,
		"KeyId":        md.KeyId == nil,
		"KeyManager":   md.KeyManager == "",
		"KeySpec":      md.KeySpec == "",
		"KeyState":     md.KeyState == "",
		"KeyUsage":     md.KeyUsage == "",
		"Origin":       md.Origin == "",
		"MultiRegion":  md.MultiRegion == nil,
	}
	for name, gone := range missing {
		if gone {
			t.Errorf("%s: KeyMetadata.%s is absent; AWS always returns it", what, name)
		}
	}
	if md.Description != nil && *md.Description != desc {
		t.Errorf("%s: Description %q, want %q", what, *md.Description, desc)
	}
}

// TestKeyMetadataAlwaysHasDescription: a key created without a description
// reads back Description "", not null, from every operation that returns
// KeyMetadata, as AWS answers.
func TestKeyMetadataAlwaysHasDescription(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		name string
		in   kms.CreateKeyInput
	}{
		{"symmetric", kms.CreateKeyInput{}},
		{"HMAC", kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac}},
		{"ECC signing", kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify}},
		{"external, pending import", kms.CreateKeyInput{Origin: types.OriginTypeExternal}},
		{"multi-Region primary", kms.CreateKeyInput{MultiRegion: aws.Bool(true)}},
	}
	for _, tc := range cases {
		out, err := s.Client.CreateKey(bg, &tc.in)
		if err != nil {
			t.Fatalf("%s: CreateKey: %v", tc.name, err)
		}
		wantAlwaysMembers(t, tc.name+" CreateKey", out.KeyMetadata, "")
		wantAlwaysMembers(t, tc.name+" DescribeKey", s.describe(aws.ToString(out.KeyMetadata.KeyId)), "")
	}

	// A replica made without a description, as recorded from AWS.
	primary, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("primary")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(primary.KeyMetadata.KeyId)
	rep, err := s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(otherRegion)})
	if err != nil {
		t.Fatal(err)
	}
	wantAlwaysMembers(t, "ReplicateKey", rep.ReplicaKeyMetadata, "")
	d, err := s.clientIn(otherRegion).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	wantAlwaysMembers(t, "replica DescribeKey", d.KeyMetadata, "")

	// A description cleared by UpdateKeyDescription is "" too.
	if _, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("")}); err != nil {
		t.Fatal(err)
	}
	wantAlwaysMembers(t, "after clearing the description", s.describe(id), "")
}

// TestListGrantsNameAlwaysPresent: a grant created without a name lists with
// Name "", as the AWS KMS Developer Guide's ListGrants output shows it.
func TestListGrantsNameAlwaysPresent(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("grants").KeyId)
	grantee := "arn:aws:iam::" + testAccount + ":root"
	if _, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String(grantee), Operations: []types.GrantOperation{types.GrantOperationDecrypt}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String(grantee), Operations: []types.GrantOperation{types.GrantOperationEncrypt}, Name: aws.String("named")}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Client.ListGrants(bg, &kms.ListGrantsInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range out.Grants {
		if g.Name == nil {
			t.Fatalf("grant %s lists without Name; AWS sends \"\"", aws.ToString(g.GrantId))
		}
		names[*g.Name] = true
	}
	if len(out.Grants) != 2 || !names[""] || !names["named"] {
		t.Fatalf("grant names %v, want \"\" and \"named\"", names)
	}
}
