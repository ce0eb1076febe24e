package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestScheduleKeyDeletionPendingWindowCondition: AWS's own example, a key
// policy that refuses ScheduleKeyDeletion with a waiting period under 30
// days, refuses 7 days and allows 30.
func TestScheduleKeyDeletionPendingWindowCondition(t *testing.T) {
	e := startEnforcing(t)
	k := e.newKey(t, symmetric, keyPolicy("kms:ScheduleKeyDeletion", condNum("NumericLessThan", "kms:ScheduleKeyDeletionPendingWindowInDays", 30)))
	_, err := e.root.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.id), PendingWindowInDays: aws.Int32(7)})
	wantExplicitDeny(t, err, false)
	if md := describeWith(t, e.root, k.id); md.KeyState != "Enabled" {
		t.Fatalf("a refused ScheduleKeyDeletion left the key %s", md.KeyState)
	}
	out, err := e.root.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.id), PendingWindowInDays: aws.Int32(30)})
	if err != nil {
		t.Fatalf("ScheduleKeyDeletion with 30 days: %v", err)
	}
	if *out.PendingWindowInDays != 30 || out.KeyState != "PendingDeletion" {
		t.Fatalf("ScheduleKeyDeletion answered %+v", out)
	}
}

// TestReEncryptOnSameKey: kms:ReEncryptOnSameKey is true when the
// destination is the key that made the ciphertext, whether the request
// names the source key or leaves it to the ciphertext, and false otherwise.
func TestReEncryptOnSameKey(t *testing.T) {
	e := startEnforcing(t)
	// Re-encryption only within the key, as AWS's example allows.
	k := e.newKey(t, symmetric, keyPolicy("kms:ReEncrypt*", condBool("kms:ReEncryptOnSameKey", false)))
	other := e.newKey(t, symmetric, keyPolicy("kms:Decrypt", ""))
	enc, err := e.root.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(k.id), Plaintext: msg})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []*string{nil, aws.String(k.alias)} {
		if _, err := e.root.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: src, DestinationKeyId: aws.String(k.id)}); err != nil {
			t.Fatalf("ReEncrypt onto the same key (source named: %v): %v", src != nil, err)
		}
		_, err := e.root.ReEncrypt(bg, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: src, DestinationKeyId: aws.String(other.id)})
		wantExplicitDeny(t, err, false)
	}
}

// TestKeyPolicyValidationOnTheWire: CreateKey and PutKeyPolicy refuse, with
// MalformedPolicyDocumentException, a key policy with a condition key kmsd
// does not know, one AWS permits in IAM policies only, or a character a key
// policy may not hold even when a JSON escape spells it; the key keeps its
// policy.
func TestKeyPolicyValidationOnTheWire(t *testing.T) {
	e := startEnforcing(t)
	k := e.newKey(t, symmetric, keyPolicy("kms:Decrypt", ""))
	const recorded = "These condition keys are not permitted in a key policy: aws:ResourceTag, kms:ResourceTag, kms:ResourceAliases"
	tests := []struct {
		name, block, sid, want string
	}{
		{name: "unknown kms key", block: condEq("kms:ScheduleKeyDeletionWindow", "7"),
			want: "Policy contains a statement with a condition key that is not valid in a key policy: kms:ScheduleKeyDeletionWindow"},
		{name: "another service's key", block: condEq("s3:prefix", "a"),
			want: "Policy contains a statement with a condition key that is not valid in a key policy: s3:prefix"},
		{name: "aws:ResourceTag", block: condEq("aws:ResourceTag/Env", "prod"), want: recorded},
		{name: "kms:ResourceAliases", block: condAny("kms:ResourceAliases", "alias/a"), want: recorded},
		{name: "escaped character beyond Latin-1", block: condEq("kms:CallerAccount", testAccount), sid: `\u20ac`,
			want: "A key policy can include only printable ASCII and Latin-1 characters, tab, line feed and carriage return; it contains U+20AC."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":[` + rootAllow + `,{"Sid":"x` + tc.sid + `","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":` + tc.block + `}]}`
			_, err := e.root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(k.id), Policy: aws.String(doc)})
			wantError(t, err, "MalformedPolicyDocumentException", tc.want)
			_, err = e.root.CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(doc)})
			wantError(t, err, "MalformedPolicyDocumentException", tc.want)
		})
	}
	got, err := e.root.GetKeyPolicy(bg, &kms.GetKeyPolicyInput{KeyId: aws.String(k.id)})
	if err != nil || *got.Policy != keyPolicy("kms:Decrypt", "") {
		t.Fatalf("the key's policy changed: %v %v", err, got)
	}
	// The same keys are fine in an identity policy, as in IAM.
	e.setIdentityPolicy(t, identityPolicy("kms:Decrypt", `{"StringEquals":{"aws:ResourceTag/Env":"prod","s3:prefix":"a"},"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/*"}}`))
	// And a documented key is fine in a key policy.
	if _, err := e.root.PutKeyPolicy(bg, &kms.PutKeyPolicyInput{KeyId: aws.String(k.id), Policy: aws.String(keyPolicy("kms:ScheduleKeyDeletion", condNum("NumericLessThan", "kms:ScheduleKeyDeletionPendingWindowInDays", 30)))}); err != nil {
		t.Fatal(err)
	}
}
