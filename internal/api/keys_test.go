package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// checkSymmetricMetadata checks every KeyMetadata field of a customer managed
// SYMMETRIC_DEFAULT key.
func checkSymmetricMetadata(t *testing.T, md *types.KeyMetadata, wantState types.KeyState, created time.Time) {
	t.Helper()
	if md == nil {
		t.Fatal("no KeyMetadata")
	}
	id := aws.ToString(md.KeyId)
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		t.Errorf("KeyId %q is not a UUID", id)
	}
	if got, want := aws.ToString(md.Arn), keyARN(testRegion, id); got != want {
		t.Errorf("Arn = %q, want %q", got, want)
	}
	if got := aws.ToString(md.AWSAccountId); got != testAccount {
		t.Errorf("AWSAccountId = %q, want %q", got, testAccount)
	}
	if md.CreationDate == nil || !md.CreationDate.Equal(created) {
		t.Errorf("CreationDate = %v, want %v", md.CreationDate, created)
	}
	if md.Enabled != (wantState == types.KeyStateEnabled) {
		t.Errorf("Enabled = %v in state %s", md.Enabled, wantState)
	}
	if md.KeyState != wantState {
		t.Errorf("KeyState = %s, want %s", md.KeyState, wantState)
	}
	if md.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		t.Errorf("KeyUsage = %s", md.KeyUsage)
	}
	if md.KeySpec != types.KeySpecSymmetricDefault {
		t.Errorf("KeySpec = %s", md.KeySpec)
	}
	//lint:ignore SA1019 AWS still returns the deprecated field, and SDKs and tools read it.
	if cmks := md.CustomerMasterKeySpec; cmks != types.CustomerMasterKeySpecSymmetricDefault {
		t.Errorf("CustomerMasterKeySpec = %s", cmks)
	}
	if !slices.Equal(md.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}) {
		t.Errorf("EncryptionAlgorithms = %v", md.EncryptionAlgorithms)
	}
	if md.SigningAlgorithms != nil || md.MacAlgorithms != nil || md.KeyAgreementAlgorithms != nil {
		t.Errorf("a symmetric key lists signing/MAC/agreement algorithms: %v %v %v", md.SigningAlgorithms, md.MacAlgorithms, md.KeyAgreementAlgorithms)
	}
	if md.KeyManager != types.KeyManagerTypeCustomer {
		t.Errorf("KeyManager = %s", md.KeyManager)
	}
	if md.Origin != types.OriginTypeAwsKms {
		t.Errorf("Origin = %s", md.Origin)
	}
	if md.MultiRegion == nil || *md.MultiRegion {
		t.Errorf("MultiRegion = %v, want false", md.MultiRegion)
	}
	if md.MultiRegionConfiguration != nil {
		t.Errorf("MultiRegionConfiguration = %+v, want none", md.MultiRegionConfiguration)
	}
	if m := aws.ToString(md.CurrentKeyMaterialId); len(m) != 64 || strings.Trim(m, "0123456789abcdef") != "" {
		t.Errorf("CurrentKeyMaterialId %q is not 64 hex digits", m)
	}
	if wantState != types.KeyStatePendingDeletion && md.DeletionDate != nil {
		t.Errorf("DeletionDate = %v outside PendingDeletion", md.DeletionDate)
	}
	if md.ValidTo != nil || md.ExpirationModel != "" || md.CustomKeyStoreId != nil || md.CloudHsmClusterId != nil {
		t.Errorf("unexpected import/custom key store fields: %+v", md)
	}
}

func TestCreateAndDescribeKeyMetadata(t *testing.T) {
	s := newServer(t)
	created := s.Clock.Now()
	out, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{
		Description: aws.String("orders database"),
		Tags:        []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("payments")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	md := out.KeyMetadata
	checkSymmetricMetadata(t, md, types.KeyStateEnabled, created)
	if got := aws.ToString(md.Description); got != "orders database" {
		t.Errorf("Description = %q", got)
	}

	// DescribeKey returns the same metadata, later.
	s.Clock.Add(time.Hour)
	d := s.describe(aws.ToString(md.KeyId))
	checkSymmetricMetadata(t, d, types.KeyStateEnabled, created)
	if aws.ToString(d.KeyId) != aws.ToString(md.KeyId) || aws.ToString(d.Description) != "orders database" ||
		aws.ToString(d.CurrentKeyMaterialId) != aws.ToString(md.CurrentKeyMaterialId) {
		t.Errorf("DescribeKey differs from CreateKey:\n%+v\n%+v", d, md)
	}

	// Explicit defaults give the same kind of key.
	out2, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt, Origin: types.OriginTypeAwsKms})
	if err != nil {
		t.Fatal(err)
	}
	checkSymmetricMetadata(t, out2.KeyMetadata, types.KeyStateEnabled, s.Clock.Now())
	if aws.ToString(out2.KeyMetadata.Description) != "" {
		t.Errorf("Description = %q, want empty", aws.ToString(out2.KeyMetadata.Description))
	}
	if aws.ToString(out2.KeyMetadata.CurrentKeyMaterialId) == aws.ToString(md.CurrentKeyMaterialId) {
		t.Error("two keys share a KeyMaterialId")
	}
}

func TestCreateKeyRejections(t *testing.T) {
	s := newServer(t)
	tags := func(n int) []types.Tag {
		var ts []types.Tag
		for i := range n {
			ts = append(ts, types.Tag{TagKey: aws.String("k" + string(rune('A'+i/26)) + string(rune('a'+i%26))), TagValue: aws.String("v")})
		}
		return ts
	}
	long128 := strings.Repeat("a", 129)
	cases := []struct {
		name string
		in   kms.CreateKeyInput
		code string
		msg  string // "" means: do not check the message
	}{
		{"reserved tag prefix", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("aws:owner"), TagValue: aws.String("x")}}}, "TagException", "Tags beginning with aws: are reserved"},
		{"reserved tag prefix upper case", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("AWS:owner"), TagValue: aws.String("x")}}}, "TagException", "Tags beginning with aws: are reserved"},
		{"duplicate tag keys", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("1")}, {TagKey: aws.String("a"), TagValue: aws.String("2")}}}, "TagException", "Duplicate tag keys"},
		{"51 tags", kms.CreateKeyInput{Tags: tags(51)}, "TagException", "Too many tags"},
		{"129-character tag key", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String(long128), TagValue: aws.String("x")}}}, "ValidationException",
			"1 validation error detected: Value '" + long128 + "' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"257-character tag value", kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String(strings.Repeat("v", 257))}}}, "ValidationException",
			"1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"policy over 32 KB", kms.CreateKeyInput{Policy: aws.String(bigPolicy(32769))}, "LimitExceededException", ""},
		{"policy not JSON", kms.CreateKeyInput{Policy: aws.String("this is not a policy")}, "MalformedPolicyDocumentException", ""},
		{"description over 8192", kms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8193))}, "ValidationException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Client.CreateKey(bg, &tc.in)
			msg := wantCode(t, err, tc.code)
			if tc.msg != "" && msg != tc.msg {
				t.Errorf("message:\n got %q\nwant %q", msg, tc.msg)
			}
		})
	}
	// No key was created by any rejected request.
	out, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Keys) != 0 {
		t.Errorf("rejected CreateKey calls left %d keys", len(out.Keys))
	}
	// 50 tags is fine.
	if _, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{Tags: tags(50)}); err != nil {
		t.Errorf("CreateKey with 50 tags: %v", err)
	}
}

// bigPolicy is a syntactically valid policy of exactly n bytes.
func bigPolicy(n int) string {
	head := `{"Version":"2012-10-17","Statement":[{"Sid":"`
	tail := `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	return head + strings.Repeat("s", n-len(head)-len(tail)) + tail
}

// TestKeyIdentifiers resolves one key by every form AWS accepts, and checks
// AWS's NotFoundException messages for the forms that name nothing.
func TestKeyIdentifiers(t *testing.T) {
	s := newServer(t)
	md := s.createKey("ids")
	id := aws.ToString(md.KeyId)
	arn := keyARN(testRegion, id)
	s.createAlias("alias/ids", id)

	for _, ref := range []string{id, arn, "alias/ids", aliasARN(testRegion, "alias/ids")} {
		t.Run("DescribeKey "+ref, func(t *testing.T) {
			if got := aws.ToString(s.describe(ref).KeyId); got != id {
				t.Errorf("KeyId = %q, want %q", got, id)
			}
		})
		t.Run("Encrypt "+ref, func(t *testing.T) {
			out := s.encrypt(ref, []byte("hi"), nil)
			if got := aws.ToString(out.KeyId); got != arn {
				t.Errorf("KeyId = %q, want the key ARN %q", got, arn)
			}
		})
	}
	// Management operations take a key ID or key ARN.
	for _, ref := range []string{id, arn} {
		if _, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(ref), Description: aws.String("by " + ref)}); err != nil {
			t.Errorf("UpdateKeyDescription %s: %v", ref, err)
		}
		if got := aws.ToString(s.describe(id).Description); got != "by "+ref {
			t.Errorf("Description = %q", got)
		}
	}

	unknown := "0b1f3c6e-9d7a-4e2b-8f11-2a3b4c5d6e7f"
	notFound := []struct{ ref, msg string }{
		{"fake-key-id", "Invalid keyId 'fake-key-id'"},
		{"134f2428cec14b25a1ae9048164dba47", "Invalid keyId '134f2428cec14b25a1ae9048164dba47'"},
		{unknown, "Key '" + keyARN(testRegion, unknown) + "' does not exist"},
		{keyARN(testRegion, unknown), "Key '" + keyARN(testRegion, unknown) + "' does not exist"},
		{"mrk-0123456789abcdef0123456789abcdef", "Key '" + keyARN(testRegion, "mrk-0123456789abcdef0123456789abcdef") + "' does not exist"},
		{"alias/nope", "Alias " + aliasARN(testRegion, "alias/nope") + " is not found."},
		{aliasARN(testRegion, "alias/nope"), "Alias " + aliasARN(testRegion, "alias/nope") + " is not found."},
		{keyARN(otherRegion, id), "Invalid arn " + otherRegion},
	}
	for _, tc := range notFound {
		t.Run("not found "+tc.ref, func(t *testing.T) {
			_, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(tc.ref)})
			wantError(t, err, "NotFoundException", tc.msg)
			_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(tc.ref), Plaintext: []byte("x")})
			wantError(t, err, "NotFoundException", tc.msg)
		})
	}
	t.Run("management op with unknown key", func(t *testing.T) {
		_, err := s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(unknown)})
		wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, unknown)+"' does not exist")
		_, err = s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String("fake-key-id")})
		wantError(t, err, "NotFoundException", "Invalid keyId 'fake-key-id'")
	})
}

// TestKeysArePerRegion: a key made in one Region is invisible from another,
// by ID and by ARN, and is not listed there.
func TestKeysArePerRegion(t *testing.T) {
	s := newServer(t)
	west := s.clientIn(otherRegion)
	out, err := west.CreateKey(bg, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	if got, want := aws.ToString(out.KeyMetadata.Arn), keyARN(otherRegion, id); got != want {
		t.Fatalf("Arn = %q, want %q", got, want)
	}
	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, id)+"' does not exist")
	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(keyARN(otherRegion, id))})
	wantCode(t, err, "NotFoundException")
	_, err = s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(keyARN(otherRegion, id)), Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	list, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 0 {
		t.Errorf("us-east-1 lists %d keys of us-west-2", len(list.Keys))
	}
	// A ciphertext made in us-west-2 does not decrypt in us-east-1.
	enc, err := west.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("west")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if code := apiError(t, err).ErrorCode(); code != "AccessDeniedException" && code != "InvalidCiphertextException" && code != "NotFoundException" {
		t.Errorf("cross-Region Decrypt: got %s", code)
	}
}

func TestListKeysPagination(t *testing.T) {
	s := newServer(t)
	want := map[string]bool{}
	for range 7 {
		want[aws.ToString(s.createKey("").KeyId)] = true
	}

	seen := map[string]int{}
	var marker *string
	var pages []int
	for {
		out, err := s.Client.ListKeys(bg, &kms.ListKeysInput{Limit: aws.Int32(3), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(out.Keys))
		for _, k := range out.Keys {
			seen[aws.ToString(k.KeyId)]++
			if got, want := aws.ToString(k.KeyArn), keyARN(testRegion, aws.ToString(k.KeyId)); got != want {
				t.Errorf("KeyArn = %q, want %q", got, want)
			}
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("last page has NextMarker %q", *out.NextMarker)
			}
			break
		}
		if aws.ToString(out.NextMarker) == "" {
			t.Fatal("Truncated page without NextMarker")
		}
		marker = out.NextMarker
	}
	if !slices.Equal(pages, []int{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", pages)
	}
	checkExactlyOnce(t, seen, want)

	// The SDK paginator visits every key exactly once.
	seen = map[string]int{}
	p := kms.NewListKeysPaginator(s.Client, &kms.ListKeysInput{Limit: aws.Int32(2)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, k := range out.Keys {
			seen[aws.ToString(k.KeyId)]++
		}
	}
	if n != 4 {
		t.Errorf("paginator fetched %d pages, want 4", n)
	}
	checkExactlyOnce(t, seen, want)

	// Default limit lists all seven, untruncated.
	out, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Keys) != 7 || out.Truncated || out.NextMarker != nil {
		t.Errorf("ListKeys: %d keys, Truncated %v, NextMarker %v", len(out.Keys), out.Truncated, out.NextMarker)
	}

	_, err = s.Client.ListKeys(bg, &kms.ListKeysInput{Marker: aws.String("not a marker!")})
	wantCode(t, err, "InvalidMarkerException")
	for _, l := range []int32{0, 1001} {
		_, err = s.Client.ListKeys(bg, &kms.ListKeysInput{Limit: aws.Int32(l)})
		wantCode(t, err, "ValidationException")
	}
}

func checkExactlyOnce(t *testing.T, seen map[string]int, want map[string]bool) {
	t.Helper()
	for k, n := range seen {
		if !want[k] {
			t.Errorf("listed unknown item %q", k)
		}
		if n != 1 {
			t.Errorf("item %q listed %d times", k, n)
		}
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("item %q never listed", k)
		}
	}
}
