package api_test

import (
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// predefinedAliases are the aliases of AWS services that ListAliases shows
// in every account, whether or not the service created its key yet.
var predefinedAliases = []string{
	"alias/aws/acm", "alias/aws/dynamodb", "alias/aws/ebs", "alias/aws/elasticfilesystem",
	"alias/aws/es", "alias/aws/glue", "alias/aws/kinesisvideo", "alias/aws/lambda",
	"alias/aws/rds", "alias/aws/redshift", "alias/aws/s3", "alias/aws/secretsmanager",
	"alias/aws/ssm", "alias/aws/xray",
}

// allAliasPages pages through ListAliases with limit, checking each page's
// shape, and returns the entries in the order listed.
func (s *testServer) allAliasPages(t *testing.T, limit int32) []types.AliasListEntry {
	t.Helper()
	var all []types.AliasListEntry
	var marker *string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("Limit %d: ListAliases does not end", limit)
		}
		out, err := s.Client.ListAliases(bg, &kms.ListAliasesInput{Limit: aws.Int32(limit), Marker: marker})
		if err != nil {
			t.Fatalf("ListAliases Limit %d: %v", limit, err)
		}
		if len(out.Aliases) > int(limit) {
			t.Fatalf("Limit %d: a page of %d aliases", limit, len(out.Aliases))
		}
		all = append(all, out.Aliases...)
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("Limit %d: last page has NextMarker %q", limit, *out.NextMarker)
			}
			return all
		}
		if out.NextMarker == nil || len(out.Aliases) == 0 {
			t.Fatalf("Limit %d: truncated page of %d aliases without a marker", limit, len(out.Aliases))
		}
		marker = out.NextMarker
	}
}

func aliasNames(entries []types.AliasListEntry) []string {
	names := make([]string, len(entries))
	for i, a := range entries {
		names[i] = aws.ToString(a.AliasName)
	}
	return names
}

// TestListAliasesShowsPredefinedAWSAliases: ListAliases returns the
// predefined aliases of AWS services in an account that never used them,
// without TargetKeyId or dates; once the service's key exists the alias
// points to it; the KeyId filter shows only what targets the key.
func TestListAliasesShowsPredefinedAWSAliases(t *testing.T) {
	s := newServer(t)
	mine := aws.ToString(s.createKey("mine").KeyId)
	s.createAlias("alias/orders", mine)

	byName := map[string]types.AliasListEntry{}
	for _, a := range s.allAliasPages(t, 100) {
		byName[aws.ToString(a.AliasName)] = a
	}
	if len(byName) != len(predefinedAliases)+1 {
		t.Fatalf("ListAliases: %v, want alias/orders and the %d predefined aliases", slices.Sorted(maps.Keys(byName)), len(predefinedAliases))
	}
	for _, name := range predefinedAliases {
		a, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("%s not listed", name)
		case aws.ToString(a.AliasArn) != aliasARN(testRegion, name):
			t.Errorf("%s: AliasArn %q", name, aws.ToString(a.AliasArn))
		case a.TargetKeyId != nil || a.CreationDate != nil || a.LastUpdatedDate != nil:
			t.Errorf("%s has no key yet, but lists target %v, dates %v %v", name, aws.ToString(a.TargetKeyId), a.CreationDate, a.LastUpdatedDate)
		}
	}
	if got := s.listAliases(mine); len(got) != 1 || got["alias/orders"].AliasName == nil {
		t.Errorf("ListAliases KeyId=%s: %v, want only alias/orders", mine, got)
	}

	// First use: the alias now names the AWS managed key.
	created := s.Clock.Now()
	ebs := aws.ToString(s.describe("alias/aws/ebs").KeyId)
	a := s.listAliases("")["alias/aws/ebs"]
	if aws.ToString(a.TargetKeyId) != ebs || a.CreationDate == nil || !a.CreationDate.Equal(created) {
		t.Errorf("alias/aws/ebs after first use: target %q created %v, want %s at %v", aws.ToString(a.TargetKeyId), a.CreationDate, ebs, created)
	}
	got := s.listAliases(ebs)
	if len(got) != 1 || aws.ToString(got["alias/aws/ebs"].TargetKeyId) != ebs {
		t.Errorf("ListAliases KeyId=%s: %v, want only alias/aws/ebs", ebs, got)
	}
	if got := s.listAliases(mine); len(got) != 1 {
		t.Errorf("ListAliases KeyId=%s lists %d aliases after another key's first use", mine, len(got))
	}
}

// TestListAliasesPagesThroughPredefinedAliases pages with every Limit from
// 1 to past the total, over customer aliases that sort before, between and
// after the predefined ones and a predefined alias already in use: every
// alias comes exactly once, in name order, whatever the page size.
func TestListAliasesPagesThroughPredefinedAliases(t *testing.T) {
	s := newServer(t)
	key := aws.ToString(s.createKey("").KeyId)
	// '-' sorts before '/', '0' after it: these straddle alias/aws/*.
	customer := []string{"alias/a", "alias/aws", "alias/aws-x", "alias/aws0", "alias/aws_y", "alias/z"}
	for _, name := range customer {
		s.createAlias(name, key)
	}
	s.describe("alias/aws/rds")

	want := slices.Sorted(slices.Values(append(slices.Clone(customer), predefinedAliases...)))
	for limit := int32(1); limit <= int32(len(want))+1; limit++ {
		entries := s.allAliasPages(t, limit)
		if got := aliasNames(entries); !slices.Equal(got, want) {
			t.Fatalf("Limit %d lists\n%v\nwant\n%v", limit, got, want)
		}
		for _, a := range entries {
			if aws.ToString(a.AliasName) == "alias/aws/rds" && a.TargetKeyId == nil {
				t.Errorf("Limit %d: alias/aws/rds lists without its key", limit)
			}
		}
	}
	// The predefined aliases never show under a key filter.
	got := slices.Sorted(maps.Keys(s.listAliases(key)))
	if !slices.Equal(got, customer) {
		t.Errorf("ListAliases KeyId=%s: %v, want %v", key, got, customer)
	}
}

// checkAWSManagedKey checks the metadata of an AWS managed key as AWS
// describes one.
func checkAWSManagedKey(t *testing.T, md *types.KeyMetadata, desc string) {
	t.Helper()
	id := aws.ToString(md.KeyId)
	switch {
	case md.KeyManager != types.KeyManagerTypeAws:
		t.Errorf("KeyManager %q, want AWS", md.KeyManager)
	case aws.ToString(md.Description) != desc:
		t.Errorf("Description %q, want %q", aws.ToString(md.Description), desc)
	case aws.ToString(md.Arn) != keyARN(testRegion, id) || aws.ToString(md.AWSAccountId) != testAccount:
		t.Errorf("Arn %q, account %q", aws.ToString(md.Arn), aws.ToString(md.AWSAccountId))
	case md.KeyState != types.KeyStateEnabled || !md.Enabled:
		t.Errorf("KeyState %q, Enabled %v", md.KeyState, md.Enabled)
	case md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt || md.Origin != types.OriginTypeAwsKms:
		t.Errorf("KeySpec %q, KeyUsage %q, Origin %q", md.KeySpec, md.KeyUsage, md.Origin)
	case aws.ToBool(md.MultiRegion) || md.DeletionDate != nil:
		t.Errorf("MultiRegion %v, DeletionDate %v", aws.ToBool(md.MultiRegion), md.DeletionDate)
	}
}

// TestDescribeKeyCreatesAWSManagedKey: DescribeKey on a predefined alias
// with no key creates the AWS managed key and associates the alias, as AWS
// documents; later calls, by alias name or alias ARN, find the same key.
func TestDescribeKeyCreatesAWSManagedKey(t *testing.T) {
	s := newServer(t)
	md := s.describe("alias/aws/s3")
	checkAWSManagedKey(t, md, "Default key that protects my S3 objects when no other key is defined")
	id := aws.ToString(md.KeyId)
	if got := aws.ToString(s.describe(aliasARN(testRegion, "alias/aws/s3")).KeyId); got != id {
		t.Errorf("DescribeKey by alias ARN: %s, want %s", got, id)
	}
	if got := aws.ToString(s.describe(id).KeyId); got != id {
		t.Errorf("DescribeKey by key id: %s", got)
	}
	keys, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 || aws.ToString(keys.Keys[0].KeyId) != id {
		t.Errorf("ListKeys: %+v, want the one AWS managed key", keys.Keys)
	}

	// An alias under alias/aws/ that no AWS service predefines stays unknown.
	_, err = s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/nosuchservice")})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/aws/nosuchservice")+" is not found.")
	// DeleteAlias does not create a key to refuse deleting it.
	_, err = s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/glue")})
	wantError(t, err, "NotFoundException", "Alias "+aliasARN(testRegion, "alias/aws/glue")+" is not found.")
	if keys, _ := s.Client.ListKeys(bg, &kms.ListKeysInput{}); len(keys.Keys) != 1 {
		t.Errorf("ListKeys: %d keys, want 1", len(keys.Keys))
	}
	// Another Region has its own AWS managed keys.
	other, err := s.clientIn(otherRegion).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/s3")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(other.KeyMetadata.KeyId) == id || aws.ToString(other.KeyMetadata.Arn) != keyARN(otherRegion, aws.ToString(other.KeyMetadata.KeyId)) {
		t.Errorf("%s's aws/s3 key: %s", otherRegion, aws.ToString(other.KeyMetadata.Arn))
	}
}

// TestCryptographicUseCreatesAWSManagedKey: the calls an AWS service makes
// with its alias (Encrypt, GenerateDataKey, ReEncrypt) create the key on
// first use too, and what they produce decrypts under it.
func TestCryptographicUseCreatesAWSManagedKey(t *testing.T) {
	s := newServer(t)
	enc := s.encrypt("alias/aws/ebs", []byte("volume key"), map[string]string{"aws:ebs:id": "vol-1"})
	ebs := s.describe("alias/aws/ebs")
	checkAWSManagedKey(t, ebs, "Default key that protects my EBS volumes when no other key is defined")
	if aws.ToString(enc.KeyId) != aws.ToString(ebs.Arn) {
		t.Errorf("Encrypt used %s, alias/aws/ebs is %s", aws.ToString(enc.KeyId), aws.ToString(ebs.Arn))
	}
	dec, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"aws:ebs:id": "vol-1"}})
	if err != nil || string(dec.Plaintext) != "volume key" {
		t.Fatalf("Decrypt: %v", err)
	}

	dk, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/aws/secretsmanager"), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatalf("GenerateDataKey alias/aws/secretsmanager: %v", err)
	}
	sm := s.describe("alias/aws/secretsmanager")
	checkAWSManagedKey(t, sm, "Default key that protects my Secrets Manager data when no other key is defined")
	if aws.ToString(dk.KeyId) != aws.ToString(sm.Arn) {
		t.Errorf("GenerateDataKey used %s, want %s", aws.ToString(dk.KeyId), aws.ToString(sm.Arn))
	}

	re, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: dk.CiphertextBlob, DestinationKeyId: aws.String("alias/aws/lambda")})
	if err != nil {
		t.Fatalf("ReEncrypt to alias/aws/lambda: %v", err)
	}
	lambda := s.describe("alias/aws/lambda")
	if aws.ToString(re.KeyId) != aws.ToString(lambda.Arn) || lambda.KeyManager != types.KeyManagerTypeAws {
		t.Errorf("ReEncrypt went to %s, alias/aws/lambda is %s (%s)", aws.ToString(re.KeyId), aws.ToString(lambda.Arn), lambda.KeyManager)
	}
	back, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || string(back.Plaintext) != string(dk.Plaintext) {
		t.Fatalf("Decrypt of the re-encrypted data key: %v", err)
	}
}

// TestAWSManagedKeyFirstUseIsCreatedOnce: concurrent first uses of one
// predefined alias create one key, and every caller gets that key.
func TestAWSManagedKeyFirstUseIsCreatedOnce(t *testing.T) {
	s := newServer(t)
	const n = 16
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if i%2 == 0 {
				out, err := s.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/dynamodb")})
				if errs[i] = err; err == nil {
					ids[i] = aws.ToString(out.KeyMetadata.Arn)
				}
				return
			}
			out, err := s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/aws/dynamodb"), NumberOfBytes: aws.Int32(32)})
			if errs[i] = err; err == nil {
				ids[i] = aws.ToString(out.KeyId)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("call %d got key %s, call 0 got %s", i, ids[i], ids[0])
		}
	}
	keys, err := s.Client.ListKeys(bg, &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 || aws.ToString(keys.Keys[0].KeyArn) != ids[0] {
		t.Errorf("ListKeys after %d concurrent first uses: %d keys, want 1 (%s)", n, len(keys.Keys), ids[0])
	}
}
