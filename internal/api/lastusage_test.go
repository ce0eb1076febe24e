package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"
)

func lastUsage(t *testing.T, c *kms.Client, keyID string) *kms.GetKeyLastUsageOutput {
	t.Helper()
	out, err := c.GetKeyLastUsage(bg, &kms.GetKeyLastUsageInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("GetKeyLastUsage %s: %v", keyID, err)
	}
	return out
}

func requestIDOf(t *testing.T, md middleware.Metadata) string {
	t.Helper()
	id, ok := awsmiddleware.GetRequestIDMetadata(md)
	if !ok || id == "" {
		t.Fatal("no request id in the response")
	}
	return id
}

// wantLastUse checks the last use GetKeyLastUsage reports, and returns its
// CloudTrailEventId.
func wantLastUse(t *testing.T, out *kms.GetKeyLastUsageOutput, op types.KeyLastUsageTrackingOperation, requestID string, at time.Time) string {
	t.Helper()
	u := out.KeyLastUsage
	if u == nil || u.Operation != op || aws.ToString(u.KmsRequestId) != requestID || aws.ToString(u.CloudTrailEventId) == "" || !aws.ToTime(u.Timestamp).Equal(at) {
		t.Fatalf("last usage %+v, want %s by request %s at %v", u, op, requestID, at)
	}
	return aws.ToString(u.CloudTrailEventId)
}

// TestGetKeyLastUsage follows a key's last use through Encrypt, Decrypt,
// failures that do not count, a flush and a restart, and matches each
// reported request id with the call's audit record.
func TestGetKeyLastUsage(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openDataNode(t, dir, clock)
	md := n.createKey("used")
	id := aws.ToString(md.KeyId)

	never := lastUsage(t, n.Client, id)
	if never.KeyLastUsage == nil || never.KeyLastUsage.Operation != "" || never.KeyLastUsage.Timestamp != nil || never.KeyLastUsage.KmsRequestId != nil {
		t.Fatalf("a never-used key: %+v, want an empty KeyLastUsage", never.KeyLastUsage)
	}
	if aws.ToString(never.KeyId) != id || !aws.ToTime(never.KeyCreationDate).Equal(aws.ToTime(md.CreationDate)) ||
		!aws.ToTime(never.TrackingStartDate).Equal(aws.ToTime(md.CreationDate)) {
		t.Fatalf("never used: %+v; want the creation date as the tracking start", never)
	}

	clock.Add(time.Minute)
	enc, err := n.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	encID, encAt := requestIDOf(t, enc.ResultMetadata), clock.Now()
	encEv := wantLastUse(t, lastUsage(t, n.Client, id), types.KeyLastUsageTrackingOperationEncrypt, encID, encAt)

	clock.Add(time.Minute)
	dec, err := n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	decID, decAt := requestIDOf(t, dec.ResultMetadata), clock.Now()
	decEv := wantLastUse(t, lastUsage(t, n.Client, id), types.KeyLastUsageTrackingOperationDecrypt, decID, decAt)

	// What is not a successful cryptographic use changes nothing.
	clock.Add(time.Minute)
	_, err = n.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"wrong": "context"}})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = n.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperationException")
	n.describe(id)
	wantLastUse(t, lastUsage(t, n.Client, id), types.KeyLastUsageTrackingOperationDecrypt, decID, decAt)

	// Signing keys too.
	sk, err := n.Client.CreateKey(bg, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	signKey := aws.ToString(sk.KeyMetadata.KeyId)
	sig, err := n.Client.Sign(bg, &kms.SignInput{KeyId: aws.String(signKey), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	signID := requestIDOf(t, sig.ResultMetadata)
	signEv := wantLastUse(t, lastUsage(t, n.Client, signKey), types.KeyLastUsageTrackingOperationSign, signID, clock.Now())
	_, err = n.Client.Verify(bg, &kms.VerifyInput{KeyId: aws.String(signKey), Message: []byte("other"), Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantCode(t, err, "KMSInvalidSignatureException")
	wantLastUse(t, lastUsage(t, n.Client, signKey), types.KeyLastUsageTrackingOperationSign, signID, clock.Now())

	// Alias names are not accepted, as in AWS.
	n.createAlias("alias/used", id)
	_, err = n.Client.GetKeyLastUsage(bg, &kms.GetKeyLastUsageInput{KeyId: aws.String("alias/used")})
	wantError(t, err, "InvalidArnException", "Key Aliases are not supported for this operation.")

	// The server flushes at shutdown (cmd/kmsd) and with its jobs; here
	// the test does, before the restart.
	if w, err := n.Service.FlushLastUsage(bg); w != 2 || err != nil {
		t.Fatalf("FlushLastUsage = %d, %v; want the two keys", w, err)
	}

	// The request ids and event ids are those of the calls' audit records.
	records := n.readAudit()
	found := map[string]string{}
	for _, r := range records {
		if id, _ := r["requestID"].(string); id == encID || id == decID || id == signID {
			name, _ := r["eventName"].(string)
			ev, _ := r["eventID"].(string)
			found[id] = name + " " + ev
		}
	}
	if found[encID] != "Encrypt "+encEv || found[decID] != "Decrypt "+decEv || found[signID] != "Sign "+signEv {
		t.Fatalf("audit records of the reported request ids: %v; want event ids %s, %s, %s", found, encEv, decEv, signEv)
	}

	clock.Add(time.Hour)
	n = openDataNode(t, dir, clock)
	wantLastUse(t, lastUsage(t, n.Client, id), types.KeyLastUsageTrackingOperationDecrypt, decID, decAt)
	after := lastUsage(t, n.Client, signKey)
	wantLastUse(t, after, types.KeyLastUsageTrackingOperationSign, signID, decAt.Add(time.Minute))
	if !aws.ToTime(after.TrackingStartDate).Equal(aws.ToTime(sk.KeyMetadata.CreationDate)) {
		t.Fatalf("tracking start %v after the restart, want the key's creation", after.TrackingStartDate)
	}
}

// TestLastUsageOfBothReEncryptKeysAndReplicas checks that ReEncrypt records
// a use of its source and destination keys, and that related multi-Region
// keys track their use independently, as AWS documents.
func TestLastUsageOfBothReEncryptKeysAndReplicas(t *testing.T) {
	s := newServer(t)
	west := s.clientIn(otherRegion)
	src := aws.ToString(s.createKey("source").KeyId)
	mrk := aws.ToString(createPrimary(t, s.Client, &kms.CreateKeyInput{}).KeyId)
	replicateTo(t, s.Client, mrk, otherRegion)
	enc := s.encrypt(src, []byte("x"), nil)
	re, err := s.Client.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: aws.String(mrk)})
	if err != nil {
		t.Fatal(err)
	}
	reID := requestIDOf(t, re.ResultMetadata)
	wantLastUse(t, lastUsage(t, s.Client, src), types.KeyLastUsageTrackingOperationReEncrypt, reID, s.Clock.Now())
	wantLastUse(t, lastUsage(t, s.Client, mrk), types.KeyLastUsageTrackingOperationReEncrypt, reID, s.Clock.Now())
	if u := lastUsage(t, west, mrk).KeyLastUsage; u.Operation != "" {
		t.Fatalf("the replica shows its primary's use: %+v", u)
	}
	s.Clock.Add(time.Second)
	dec, err := west.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil {
		t.Fatal(err)
	}
	wantLastUse(t, lastUsage(t, west, mrk), types.KeyLastUsageTrackingOperationDecrypt, requestIDOf(t, dec.ResultMetadata), s.Clock.Now())
	wantLastUse(t, lastUsage(t, s.Client, mrk), types.KeyLastUsageTrackingOperationReEncrypt, reID, s.Clock.Now().Add(-time.Second))
}
