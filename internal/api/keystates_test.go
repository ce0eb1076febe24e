package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEnableDisableKey(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	arn := keyARN(testRegion, id)
	blob := s.encrypt(id, []byte("before"), nil).CiphertextBlob

	s.disable(id)
	checkSymmetricMetadata(t, s.describe(id), types.KeyStateDisabled, s.Clock.Now())
	// Disabling twice is fine, as in AWS.
	s.disable(arn)

	disabled := arn + " is disabled."
	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantError(t, err, "DisabledException", disabled)
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob})
	wantError(t, err, "DisabledException", disabled)
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	wantError(t, err, "DisabledException", disabled)
	_, err = s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	wantError(t, err, "DisabledException", disabled)

	// Management still works on a disabled key.
	if _, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("off")}); err != nil {
		t.Errorf("UpdateKeyDescription on a disabled key: %v", err)
	}
	if _, err := s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}}); err != nil {
		t.Errorf("TagResource on a disabled key: %v", err)
	}
	if _, err := s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/off"), TargetKeyId: aws.String(id)}); err != nil {
		t.Errorf("CreateAlias on a disabled key: %v", err)
	}

	if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	checkSymmetricMetadata(t, s.describe(id), types.KeyStateEnabled, s.Clock.Now())
	out, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil || string(out.Plaintext) != "before" {
		t.Fatalf("Decrypt after EnableKey: %v %q", err, out.Plaintext)
	}
}

func TestScheduleAndCancelKeyDeletion(t *testing.T) {
	s := newServer(t)
	created := s.Clock.Now()
	id := aws.ToString(s.createKey("doomed").KeyId)
	arn := keyARN(testRegion, id)
	blob := s.encrypt(id, []byte("secret"), nil).CiphertextBlob
	other := aws.ToString(s.createKey("other").KeyId)
	s.createAlias("alias/to-doomed", id)
	s.createAlias("alias/to-other", other)

	s.Clock.Add(90 * time.Minute)
	now := s.Clock.Now()
	out := s.scheduleDeletion(id, 7)
	if got := aws.ToString(out.KeyId); got != arn {
		t.Errorf("KeyId = %q, want the ARN %q", got, arn)
	}
	if out.KeyState != types.KeyStatePendingDeletion {
		t.Errorf("KeyState = %s", out.KeyState)
	}
	if aws.ToInt32(out.PendingWindowInDays) != 7 {
		t.Errorf("PendingWindowInDays = %v", out.PendingWindowInDays)
	}
	wantDue := now.Add(7 * 24 * time.Hour)
	if out.DeletionDate == nil || !out.DeletionDate.Equal(wantDue) {
		t.Errorf("DeletionDate = %v, want %v", out.DeletionDate, wantDue)
	}

	md := s.describe(id)
	checkSymmetricMetadata(t, md, types.KeyStatePendingDeletion, created)
	if md.DeletionDate == nil || !md.DeletionDate.Equal(wantDue) {
		t.Errorf("DescribeKey DeletionDate = %v, want %v", md.DeletionDate, wantDue)
	}

	pending := arn + " is pending deletion."
	_, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(16)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.GenerateDataKeyWithoutPlaintext(bg, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(16)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.DisableKey(bg, &kms.DisableKeyInput{KeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("x")})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.TagResource(bg, &kms.TagResourceInput{KeyId: aws.String(id), Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", pending)
	_, err = s.Client.UpdateAlias(bg, &kms.UpdateAliasInput{AliasName: aws.String("alias/to-other"), TargetKeyId: aws.String(id)})
	wantError(t, err, "KMSInvalidStateException", pending)
	if got := aws.ToString(s.describe("alias/to-other").KeyId); got != other {
		t.Errorf("a rejected UpdateAlias moved alias/to-other to %s", got)
	}
	// An alias of a key pending deletion can still be deleted.
	if _, err := s.Client.DeleteAlias(bg, &kms.DeleteAliasInput{AliasName: aws.String("alias/to-doomed")}); err != nil {
		t.Errorf("DeleteAlias of a key pending deletion: %v", err)
	}

	// The rejected requests changed nothing; reads still work.
	md = s.describe(id)
	if md.KeyState != types.KeyStatePendingDeletion || aws.ToString(md.Description) != "doomed" || !md.DeletionDate.Equal(wantDue) {
		t.Errorf("state changed by rejected requests: %+v", md)
	}
	if _, err := s.Client.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(id)}); err != nil {
		t.Errorf("GetKeyPolicy while pending deletion: %v", err)
	}
	if _, err := s.Client.ListResourceTags(bg, &kms.ListResourceTagsInput{KeyId: aws.String(id)}); err != nil {
		t.Errorf("ListResourceTags while pending deletion: %v", err)
	}

	c, err := s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(c.KeyId); got != arn {
		t.Errorf("CancelKeyDeletion KeyId = %q, want %q", got, arn)
	}
	md = s.describe(id)
	checkSymmetricMetadata(t, md, types.KeyStateDisabled, created)

	_, err = s.Client.CancelKeyDeletion(bg, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	msg := wantCode(t, err, "KMSInvalidStateException")
	if !strings.HasPrefix(msg, arn+" is not pending deletion") {
		t.Errorf("message %q", msg)
	}

	if _, err := s.Client.EnableKey(bg, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: blob}); err != nil || string(d.Plaintext) != "secret" {
		t.Fatalf("Decrypt after cancel and enable: %v", err)
	}

	// Default window is 30 days.
	s.Clock.Add(time.Hour)
	out = s.scheduleDeletionDefault(id)
	if aws.ToInt32(out.PendingWindowInDays) != 30 || !out.DeletionDate.Equal(s.Clock.Now().Add(30*24*time.Hour)) {
		t.Errorf("default window: %v days, due %v", aws.ToInt32(out.PendingWindowInDays), out.DeletionDate)
	}
}

func (s *testServer) scheduleDeletionDefault(keyID string) *kms.ScheduleKeyDeletionOutput {
	s.t.Helper()
	out, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID)})
	if err != nil {
		s.t.Fatalf("ScheduleKeyDeletion: %v", err)
	}
	return out
}

func TestPendingWindowLimits(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("").KeyId)
	for _, days := range []int32{0, 6, 31, 365} {
		_, err := s.Client.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(days)})
		wantCode(t, err, "ValidationException")
	}
	checkSymmetricMetadata(t, s.describe(id), types.KeyStateEnabled, s.Clock.Now())
	for _, days := range []int32{7, 30} {
		k := aws.ToString(s.createKey("").KeyId)
		if out := s.scheduleDeletion(k, days); aws.ToInt32(out.PendingWindowInDays) != days {
			t.Errorf("window %d: got %v", days, out.PendingWindowInDays)
		}
	}
}

func TestUpdateKeyDescription(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("one").KeyId)
	if _, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(s.describe(id).Description); got != "two" {
		t.Errorf("Description = %q", got)
	}
	_, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String(strings.Repeat("x", 8193))})
	wantCode(t, err, "ValidationException")
	if got := aws.ToString(s.describe(id).Description); got != "two" {
		t.Errorf("Description after a rejected update = %q", got)
	}
}

// TestUpdateKeyDescriptionToEmpty: Description is required but may be empty
// (DescriptionType is 0–8192 characters), so AWS accepts "" and clears it.
func TestUpdateKeyDescriptionToEmpty(t *testing.T) {
	s := newServer(t)
	id := aws.ToString(s.createKey("one").KeyId)
	_, err := s.Client.UpdateKeyDescription(bg, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(s.describe(id).Description); got != "" {
		t.Errorf("Description = %q, want empty", got)
	}
}
