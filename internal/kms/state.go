package kms

import "github.com/kmsd/kmsd/internal/kmserr"

// Key states, key usages and the other enum values kmsd stores, as AWS spells them.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
	statePendingImport   = "PendingImport"
	// A multi-Region primary key scheduled for deletion while it still has
	// replicas (multiregion.go).
	statePendingReplicaDeletion = "PendingReplicaDeletion"
	// A new replica key's state in ReplicateKey's answer, as AWS reports
	// it; kmsd creates the replica at once, so no key stays Creating.
	stateCreating = "Creating"

	usageEncryptDecrypt = "ENCRYPT_DECRYPT"
	specSymmetric       = "SYMMETRIC_DEFAULT"
	originAWSKMS        = "AWS_KMS"
	managerCustomer     = "CUSTOMER"
	algSymmetric        = "SYMMETRIC_DEFAULT"
)

// stateRule says how an operation treats a key that is not Enabled, after
// AWS's key state table.
type stateRule int

const (
	// ruleCrypto: cryptographic use. Disabled → DisabledException; pending
	// deletion or import → KMSInvalidStateException.
	ruleCrypto stateRule = iota
	// ruleManage: Enable/Disable, tags, description, CreateAlias: refused
	// only while the key is pending deletion.
	ruleManage
	// ruleEnableDisable: like ruleManage, and also refused pending import.
	ruleEnableDisable
	// ruleAny: every state (DescribeKey, policies, listing, DeleteAlias).
	ruleAny
	// ruleGrant: CreateGrant. Like ruleCrypto, but also allowed while the
	// key is Unavailable or Updating, as AWS's key state table says.
	ruleGrant
)

func checkState(k *cachedKey, rule stateRule) error {
	st := k.rec.KeyState
	if st == stateEnabled || rule == ruleAny {
		return nil
	}
	switch st {
	case stateDisabled:
		if rule == ruleCrypto || rule == ruleGrant {
			return kmserr.New(kmserr.Disabled, "%s is disabled.", k.arn)
		}
		return nil
	case statePendingDeletion, statePendingReplicaDeletion:
		return kmserr.New(kmserr.InvalidState, "%s is pending deletion.", k.arn)
	case statePendingImport:
		if rule == ruleManage {
			return nil
		}
		return kmserr.New(kmserr.InvalidState, "%s is pending import.", k.arn)
	default:
		if rule == ruleGrant && (st == "Unavailable" || st == "Updating") {
			return nil
		}
		return kmserr.New(kmserr.InvalidState, "%s is %s.", k.arn, st)
	}
}
