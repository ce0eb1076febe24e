package api_test

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const euRegion = "eu-west-1"

// mrkClients are clients of one server in the three Regions of these tests.
type mrkClients map[string]*kms.Client

func clientsOf(s *testServer) mrkClients {
	return mrkClients{testRegion: s.Client, otherRegion: s.clientIn(otherRegion), euRegion: s.clientIn(euRegion)}
}

func createPrimary(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	in.MultiRegion = aws.Bool(true)
	out, err := c.CreateKey(bg, in)
	if err != nil {
		t.Fatalf("CreateKey MultiRegion: %v", err)
	}
	return out.KeyMetadata
}

func replicateTo(t *testing.T, c *kms.Client, keyID, region string) *kms.ReplicateKeyOutput {
	t.Helper()
	out, err := c.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(keyID), ReplicaRegion: aws.String(region)})
	if err != nil {
		t.Fatalf("ReplicateKey to %s: %v", region, err)
	}
	return out
}

func describeWith(t *testing.T, c *kms.Client, keyID string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", keyID, err)
	}
	return out.KeyMetadata
}

// wantConfig checks a key's MultiRegionConfiguration: its type, the
// primary's Region and every replica's.
func wantConfig(t *testing.T, md *types.KeyMetadata, typ types.MultiRegionKeyType, primary string, replicas ...string) {
	t.Helper()
	cfg := md.MultiRegionConfiguration
	if !aws.ToBool(md.MultiRegion) || cfg == nil {
		t.Fatalf("%s: MultiRegion %v, configuration %+v", aws.ToString(md.Arn), aws.ToBool(md.MultiRegion), cfg)
	}
	id := aws.ToString(md.KeyId)
	var got []string
	for _, r := range cfg.ReplicaKeys {
		if aws.ToString(r.Arn) != keyARN(aws.ToString(r.Region), id) {
			t.Errorf("replica entry %s has ARN %s", aws.ToString(r.Region), aws.ToString(r.Arn))
		}
		got = append(got, aws.ToString(r.Region))
	}
	slices.Sort(got)
	slices.Sort(replicas)
	if cfg.MultiRegionKeyType != typ || aws.ToString(cfg.PrimaryKey.Region) != primary ||
		aws.ToString(cfg.PrimaryKey.Arn) != keyARN(primary, id) || !slices.Equal(got, replicas) {
		t.Fatalf("%s: configuration %s, primary %s, replicas %v; want %s, %s, %v", aws.ToString(md.Arn),
			cfg.MultiRegionKeyType, aws.ToString(cfg.PrimaryKey.Region), got, typ, primary, replicas)
	}
}

// TestMultiRegionKeysAcrossRegions creates a primary in us-east-1,
// replicates it to us-west-2 and eu-west-1 and uses the related keys
// interchangeably, as AWS documents multi-Region keys.
func TestMultiRegionKeysAcrossRegions(t *testing.T) {
	s := newServer(t)
	cs := clientsOf(s)
	md := createPrimary(t, s.Client, &kms.CreateKeyInput{Description: aws.String("primary")})
	id := aws.ToString(md.KeyId)
	if !regexp.MustCompile(`^mrk-[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("multi-Region key id %q", id)
	}
	wantConfig(t, md, types.MultiRegionKeyTypePrimary, testRegion)
	if md.MultiRegionConfiguration.ReplicaKeys == nil {
		t.Fatal("a new primary's ReplicaKeys is absent, want []")
	}

	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"replica","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	rep, err := s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{
		KeyId: aws.String(keyARN(testRegion, id)), ReplicaRegion: aws.String(otherRegion),
		Description: aws.String("west replica"), Policy: aws.String(policy),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("west")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rmd := rep.ReplicaKeyMetadata
	if rmd.KeyState != types.KeyStateCreating || rmd.Enabled || aws.ToString(rmd.Arn) != keyARN(otherRegion, id) ||
		aws.ToString(rmd.Description) != "west replica" || aws.ToString(rep.ReplicaPolicy) != policy ||
		len(rep.ReplicaTags) != 1 || aws.ToString(rep.ReplicaTags[0].TagValue) != "west" {
		t.Fatalf("ReplicateKey answered %+v", rep)
	}
	wantConfig(t, rmd, types.MultiRegionKeyTypeReplica, testRegion, otherRegion)
	replicateTo(t, s.Client, id, euRegion)

	for region, c := range cs {
		d := describeWith(t, c, id)
		if d.KeyState != types.KeyStateEnabled || aws.ToString(d.CurrentKeyMaterialId) != aws.ToString(md.CurrentKeyMaterialId) {
			t.Fatalf("%s: state %s, material %s", region, d.KeyState, aws.ToString(d.CurrentKeyMaterialId))
		}
		typ := types.MultiRegionKeyTypeReplica
		if region == testRegion {
			typ = types.MultiRegionKeyTypePrimary
		}
		wantConfig(t, d, typ, testRegion, otherRegion, euRegion)
	}
	// Policy, tags and description are each key's own.
	if got, _ := cs[otherRegion].GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)}); aws.ToString(got.Policy) != policy {
		t.Fatalf("replica policy %q", aws.ToString(got.Policy))
	}
	if tags, _ := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id)}); len(tags.Tags) != 0 {
		t.Fatalf("the replica's tags reached the primary: %+v", tags.Tags)
	}
	if d := describeWith(t, cs[euRegion], id); aws.ToString(d.Description) != "" {
		t.Fatalf("replica description %q, want empty by default", aws.ToString(d.Description))
	}

	// A ciphertext made in one Region decrypts in every other.
	ec := map[string]string{"purpose": "mrk"}
	for from, fc := range cs {
		enc, err := fc.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("from " + from), EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		for to, tc := range cs {
			dec, err := tc.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
			if err != nil || string(dec.Plaintext) != "from "+from || aws.ToString(dec.KeyId) != keyARN(to, id) {
				t.Fatalf("made in %s, decrypted in %s: %v %+v", from, to, err, dec)
			}
			named, err := tc.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: aws.String(keyARN(to, id))})
			if err != nil || string(named.Plaintext) != "from "+from {
				t.Fatalf("made in %s, decrypted in %s naming the related key: %v", from, to, err)
			}
		}
		re, err := cs[euRegion].ReEncrypt(bg, &kms.ReEncryptInput{
			CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(id),
		})
		if err != nil || aws.ToString(re.SourceKeyId) != keyARN(euRegion, id) {
			t.Fatalf("ReEncrypt in %s of a ciphertext made in %s: %v", euRegion, from, err)
		}
		if back, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob}); err != nil || string(back.Plaintext) != "from "+from {
			t.Fatalf("decrypt the re-encrypted ciphertext: %v", err)
		}
	}
	// A single-Region key's ciphertext does not decrypt elsewhere.
	single := s.createKey("regional")
	enc := s.encrypt(aws.ToString(single.KeyId), []byte("x"), nil)
	_, err = cs[otherRegion].Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException")
}

func TestMultiRegionErrorsAsAWS(t *testing.T) {
	s := newServer(t)
	west := s.clientIn(otherRegion)
	id := aws.ToString(createPrimary(t, s.Client, &kms.CreateKeyInput{}).KeyId)
	replicateTo(t, s.Client, id, otherRegion)

	_, err := s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(otherRegion)})
	wantError(t, err, "AlreadyExistsException", "Key '"+keyARN(otherRegion, id)+"' already exists")
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(testRegion)})
	wantError(t, err, "AlreadyExistsException", "Key '"+keyARN(testRegion, id)+"' already exists")
	_, err = west.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(euRegion)})
	wantError(t, err, "UnsupportedOperationException", keyARN(otherRegion, id)+" is not a multi-region primary key.")
	single := aws.ToString(s.createKey("regional").KeyId)
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(single), ReplicaRegion: aws.String(euRegion)})
	wantError(t, err, "UnsupportedOperationException", keyARN(testRegion, single)+" is not a multi-region primary key.")
	missing := "mrk-0123456789abcdef0123456789abcdef"
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(missing), ReplicaRegion: aws.String(euRegion)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(testRegion, missing)+"' does not exist")
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("cn-north-1")})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("Mars")})
	wantCode(t, err, "ValidationException")
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(euRegion),
		Tags: []types.Tag{{TagKey: aws.String("aws:reserved"), TagValue: aws.String("x")}}})
	wantError(t, err, "TagException", "Tags beginning with aws: are reserved")
	_, err = s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(euRegion), Policy: aws.String("{")})
	wantCode(t, err, "MalformedPolicyDocumentException")
	if _, err := s.clientIn(euRegion).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)}); err == nil {
		t.Fatal("a refused ReplicateKey left a replica behind")
	}

	_, err = west.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String(testRegion)})
	wantError(t, err, "UnsupportedOperationException", keyARN(otherRegion, id)+" is not a multi-region primary key.")
	_, err = s.Client.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String(euRegion)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(euRegion, id)+"' does not exist")
	_, err = s.Client.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(single), PrimaryRegion: aws.String(otherRegion)})
	wantError(t, err, "UnsupportedOperationException", keyARN(testRegion, single)+" is not a multi-region primary key.")

	// Rotation is managed on the primary.
	_, err = west.EnableKeyRotation(bg, &kms.EnableKeyRotationInput{KeyId: aws.String(id)})
	wantError(t, err, "UnsupportedOperationException", keyARN(otherRegion, id)+" is not a multi-region primary key.")
	_, err = west.RotateKeyOnDemand(bg, &kms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantError(t, err, "UnsupportedOperationException", keyARN(otherRegion, id)+" is not a multi-region primary key.")
}

func TestUpdatePrimaryRegionSwapsPrimaryAndReplica(t *testing.T) {
	s := newServer(t)
	cs := clientsOf(s)
	md := createPrimary(t, s.Client, &kms.CreateKeyInput{})
	id := aws.ToString(md.KeyId)
	replicateTo(t, s.Client, id, otherRegion)
	replicateTo(t, s.Client, id, euRegion)
	enc := s.encrypt(id, []byte("before the swap"), nil)

	if _, err := s.Client.UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String(otherRegion)}); err != nil {
		t.Fatal(err)
	}
	for region, c := range cs {
		d := describeWith(t, c, id)
		typ := types.MultiRegionKeyTypeReplica
		if region == otherRegion {
			typ = types.MultiRegionKeyTypePrimary
		}
		wantConfig(t, d, typ, otherRegion, testRegion, euRegion)
		if d.KeyState != types.KeyStateEnabled {
			t.Fatalf("%s is %s after the swap", region, d.KeyState)
		}
		if dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "before the swap" {
			t.Fatalf("decrypt in %s after the swap: %v", region, err)
		}
	}
	_, err := s.Client.ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("ap-southeast-2")})
	wantCode(t, err, "UnsupportedOperationException")
	if _, err := cs[otherRegion].ReplicateKey(bg, &kms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("ap-southeast-2")}); err != nil {
		t.Fatalf("replicate from the new primary: %v", err)
	}
	// And back.
	if _, err := cs[otherRegion].UpdatePrimaryRegion(bg, &kms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String(testRegion)}); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, describeWith(t, s.Client, id), types.MultiRegionKeyTypePrimary, testRegion, otherRegion, euRegion, "ap-southeast-2")
}

// TestMultiRegionRotationReachesReplicas rotates the primary and decrypts,
// in a replica's Region, what was encrypted after the rotation.
func TestMultiRegionRotationReachesReplicas(t *testing.T) {
	s := newServer(t)
	cs := clientsOf(s)
	id := aws.ToString(createPrimary(t, s.Client, &kms.CreateKeyInput{}).KeyId)
	replicateTo(t, s.Client, id, otherRegion)
	s.enableRotation(id, aws.Int32(90))
	replicateTo(t, s.Client, id, euRegion)
	for region, c := range cs {
		st, err := c.GetKeyRotationStatus(bg, &kms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
		if err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
			t.Fatalf("rotation status in %s: %+v, %v; want the primary's", region, st, err)
		}
	}

	s.rotateOnDemand(id)
	onDemand := aws.ToString(s.describe(id).CurrentKeyMaterialId)
	enc := s.encrypt(id, []byte("after on-demand rotation"), nil)
	s.Clock.Add(90 * day)
	if n, err := s.Service.RotateDueKeys(bg); n != 1 || err != nil {
		t.Fatalf("RotateDueKeys = %d, %v", n, err)
	}
	automatic := aws.ToString(s.describe(id).CurrentKeyMaterialId)
	enc2 := s.encrypt(id, []byte("after automatic rotation"), nil)
	if automatic == onDemand {
		t.Fatal("the automatic rotation made no new material")
	}
	for region, c := range cs {
		if got := aws.ToString(describeWith(t, c, id).CurrentKeyMaterialId); got != automatic {
			t.Fatalf("%s: current material %s, want %s", region, got, automatic)
		}
		for _, tc := range []struct {
			blob    []byte
			pt, mid string
		}{{enc.CiphertextBlob, "after on-demand rotation", onDemand}, {enc2.CiphertextBlob, "after automatic rotation", automatic}} {
			dec, err := c.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: tc.blob})
			if err != nil || string(dec.Plaintext) != tc.pt || aws.ToString(dec.KeyMaterialId) != tc.mid {
				t.Fatalf("decrypt in %s: %v", region, err)
			}
		}
		rot, err := c.ListKeyRotations(bg, &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
		if err != nil || len(rot.Rotations) != 2 || rot.Rotations[0].RotationType != types.RotationTypeOnDemand || rot.Rotations[1].RotationType != types.RotationTypeAutomatic {
			t.Fatalf("rotations in %s: %+v, %v", region, rot, err)
		}
	}
}

// TestMultiRegionDeletionAcrossRestart follows the deletion rules through
// the scheduler with a fake clock, restarting kmsd between steps.
func TestMultiRegionDeletionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openDataNode(t, dir, clock)
	id := aws.ToString(createPrimary(t, n.Client, &kms.CreateKeyInput{Description: aws.String("doomed")}).KeyId)
	replicateTo(t, n.Client, id, otherRegion)
	replicateTo(t, n.Client, id, euRegion)
	enc := n.encrypt(id, []byte("kept"), nil)

	out := n.scheduleDeletion(id, 7)
	if out.KeyState != types.KeyStatePendingReplicaDeletion || out.DeletionDate != nil || aws.ToInt32(out.PendingWindowInDays) != 7 {
		t.Fatalf("ScheduleKeyDeletion of a primary with replicas: %+v", out)
	}
	d := n.describe(id)
	if d.KeyState != types.KeyStatePendingReplicaDeletion || aws.ToInt32(d.PendingDeletionWindowInDays) != 7 || d.DeletionDate != nil {
		t.Fatalf("primary: %+v", d)
	}
	_, err := n.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantError(t, err, "KMSInvalidStateException", keyARN(testRegion, id)+" is pending deletion.")

	west, eu := n.clientIn(otherRegion), n.clientIn(euRegion)
	if _, err := west.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eu.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(10)}); err != nil {
		t.Fatal(err)
	}
	// Replicas pending deletion refuse cryptographic use like any key.
	_, err = eu.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantError(t, err, "KMSInvalidStateException", keyARN(euRegion, id)+" is pending deletion.")

	clock.Add(7 * day)
	n.Stop()
	n = openDataNode(t, dir, clock)
	if k, err := n.Service.DeleteDueKeys(bg); k != 1 || err != nil {
		t.Fatalf("DeleteDueKeys = %d, %v; want the us-west-2 replica", k, err)
	}
	wantConfig(t, n.describe(id), types.MultiRegionKeyTypePrimary, testRegion, euRegion)
	_, err = n.clientIn(otherRegion).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	wantError(t, err, "NotFoundException", "Key '"+keyARN(otherRegion, id)+"' does not exist")

	clock.Add(3 * day)
	deleted := clock.Now()
	if k, err := n.Service.DeleteDueKeys(bg); k != 1 || err != nil {
		t.Fatalf("DeleteDueKeys = %d, %v; want the eu-west-1 replica", k, err)
	}
	n.Stop()
	n = openDataNode(t, dir, clock)
	d = n.describe(id)
	if d.KeyState != types.KeyStatePendingDeletion || !aws.ToTime(d.DeletionDate).Equal(deleted.Add(7*day)) || d.PendingDeletionWindowInDays != nil {
		t.Fatalf("primary after its last replica was deleted: state %s, deletion date %v", d.KeyState, d.DeletionDate)
	}
	clock.Add(7 * day)
	if k, err := n.Service.DeleteDueKeys(bg); k != 1 || err != nil {
		t.Fatalf("DeleteDueKeys = %d, %v; want the primary", k, err)
	}
	_, err = n.Client.DescribeKey(bg, &kms.DescribeKeyInput{KeyId: aws.String(id)})
	wantCode(t, err, "NotFoundException")
}

// TestMultiRegionKeysOfEverySpecFamily replicates asymmetric and HMAC
// primaries and uses them across Regions.
func TestMultiRegionKeysOfEverySpecFamily(t *testing.T) {
	s := newServer(t)
	west := s.clientIn(otherRegion)
	sig := createPrimary(t, s.Client, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	replicateTo(t, s.Client, aws.ToString(sig.KeyId), otherRegion)
	signed, err := s.Client.Sign(bg, &kms.SignInput{KeyId: sig.KeyId, Message: []byte("msg"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := west.Verify(bg, &kms.VerifyInput{KeyId: sig.KeyId, Message: []byte("msg"), Signature: signed.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}); err != nil {
		t.Fatalf("verify in the replica's Region: %v", err)
	}
	pub, _ := s.Client.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: sig.KeyId})
	rpub, _ := west.GetPublicKey(bg, &kms.GetPublicKeyInput{KeyId: sig.KeyId})
	if string(pub.PublicKey) != string(rpub.PublicKey) {
		t.Fatal("the replica has another public key")
	}

	mac := createPrimary(t, s.Client, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	replicateTo(t, s.Client, aws.ToString(mac.KeyId), otherRegion)
	m, err := s.Client.GenerateMac(bg, &kms.GenerateMacInput{KeyId: mac.KeyId, Message: []byte("msg"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := west.VerifyMac(bg, &kms.VerifyMacInput{KeyId: mac.KeyId, Message: []byte("msg"), Mac: m.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256}); err != nil {
		t.Fatalf("VerifyMac in the replica's Region: %v", err)
	}
	d := describeWith(t, west, aws.ToString(mac.KeyId))
	if d.KeySpec != types.KeySpecHmac256 || d.KeyUsage != types.KeyUsageTypeGenerateVerifyMac {
		t.Fatalf("replica spec %s usage %s", d.KeySpec, d.KeyUsage)
	}
}
