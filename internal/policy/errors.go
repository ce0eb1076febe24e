package policy

import "fmt"

// MalformedError reports a policy document that is not syntactically or
// semantically valid. Callers map it to MalformedPolicyDocumentException;
// Message is the text the client sees.
type MalformedError struct {
	Message string
}

func (e *MalformedError) Error() string { return e.Message }

func malformed(format string, args ...any) *MalformedError {
	return &MalformedError{Message: fmt.Sprintf(format, args...)}
}

// LimitError reports a document larger than its quota. AWS KMS answers an
// oversized key policy with LimitExceededException, not
// MalformedPolicyDocumentException, so it is a type of its own.
type LimitError struct {
	Size, Limit int // bytes
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("The key policy is %d bytes, more than the %d-byte limit.", e.Size, e.Limit)
}

// Messages AWS documents for MalformedPolicyDocumentException, quoted
// exactly because clients and infrastructure tools match on them.
const (
	// MsgInvalidPrincipals is KMS's answer to a principal it cannot accept.
	MsgInvalidPrincipals = "Policy contains a statement with one or more invalid principals."
	// MsgLockout is KMS's answer when a new key policy would not let the
	// caller change the policy again (the lockout safety check).
	MsgLockout = "The new key policy will not allow you to update the key policy in the future."

	// MsgKeyPolicyConditionKeys is KMS's answer to a condition key that
	// AWS permits in IAM policies only (recorded from PutKeyPolicy).
	MsgKeyPolicyConditionKeys = "These condition keys are not permitted in a key policy: aws:ResourceTag, kms:ResourceTag, kms:ResourceAliases"

	// kmsd's own wording where AWS's is not on record: a condition key
	// kmsd does not know, and a character a key policy may not hold.
	msgUnknownConditionKey = "Policy contains a statement with a condition key that is not valid in a key policy: %s"
	msgKeyPolicyCharacter  = "A key policy can include only printable ASCII and Latin-1 characters, tab, line feed and carriage return; it contains U+%04X."

	// IAM's wording for the same class of mistakes; KMS documents no
	// other text for them.
	msgDuplicateSid      = "Statement IDs (SID) in a single policy must be unique."
	msgNoVendor          = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgOneColon          = "Actions/Condition can contain only one colon."
	msgVendorInvalid     = "Vendor %s is not valid"
	msgResourceNotARN    = "Resource %s must be in ARN format or \"*\"."
	msgMustHaveActions   = "Policy statement must contain actions."
	msgMustHaveResources = "Policy statement must contain resources."
	msgNoPrincipalWanted = "Policy document should not specify a principal."
	msgMissingPrincipal  = "Missing required field Principal"
	msgProhibitedRes     = "Has prohibited field Resource"

	// KMS's OverlyPermissiveCondition texts (conditions-kms.md).
	msgOverlyPermissiveEC  = "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues."
	msgOverlyPermissiveTag = "OverlyPermissiveCondition:RequestTag: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues."
)
