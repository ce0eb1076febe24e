package api

import (
	"context"
	"slices"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmsapi"
)

const (
	readOnly = true
	mutating = false
)

// operations maps X-Amz-Target operation names to their implementation.
// Operations of the API that are not listed answer UnsupportedOperationException.
func operations() map[string]operation {
	return map[string]operation{
		"CreateKey":                           op((*kms.Service).CreateKey, mutating),
		"DescribeKey":                         op((*kms.Service).DescribeKey, readOnly),
		"ListKeys":                            op((*kms.Service).ListKeys, readOnly),
		"UpdateKeyDescription":                op((*kms.Service).UpdateKeyDescription, mutating),
		"EnableKey":                           op((*kms.Service).EnableKey, mutating),
		"DisableKey":                          op((*kms.Service).DisableKey, mutating),
		"ScheduleKeyDeletion":                 op((*kms.Service).ScheduleKeyDeletion, mutating),
		"CancelKeyDeletion":                   op((*kms.Service).CancelKeyDeletion, mutating),
		"GetParametersForImport":              op((*kms.Service).GetParametersForImport, readOnly),
		"ImportKeyMaterial":                   op((*kms.Service).ImportKeyMaterial, mutating),
		"DeleteImportedKeyMaterial":           op((*kms.Service).DeleteImportedKeyMaterial, mutating),
		"CreateAlias":                         op((*kms.Service).CreateAlias, mutating),
		"UpdateAlias":                         op((*kms.Service).UpdateAlias, mutating),
		"DeleteAlias":                         op((*kms.Service).DeleteAlias, mutating),
		"ListAliases":                         op((*kms.Service).ListAliases, readOnly),
		"TagResource":                         op((*kms.Service).TagResource, mutating),
		"UntagResource":                       op((*kms.Service).UntagResource, mutating),
		"ListResourceTags":                    op((*kms.Service).ListResourceTags, readOnly),
		"CreateGrant":                         op((*kms.Service).CreateGrant, mutating),
		"ListGrants":                          op((*kms.Service).ListGrants, readOnly),
		"ListRetirableGrants":                 op((*kms.Service).ListRetirableGrants, readOnly),
		"RetireGrant":                         op((*kms.Service).RetireGrant, mutating),
		"RevokeGrant":                         op((*kms.Service).RevokeGrant, mutating),
		"GetKeyPolicy":                        op((*kms.Service).GetKeyPolicy, readOnly),
		"PutKeyPolicy":                        op((*kms.Service).PutKeyPolicy, mutating),
		"ListKeyPolicies":                     op((*kms.Service).ListKeyPolicies, readOnly),
		"EnableKeyRotation":                   op((*kms.Service).EnableKeyRotation, mutating),
		"DisableKeyRotation":                  op((*kms.Service).DisableKeyRotation, mutating),
		"GetKeyRotationStatus":                op((*kms.Service).GetKeyRotationStatus, readOnly),
		"RotateKeyOnDemand":                   op((*kms.Service).RotateKeyOnDemand, mutating),
		"ListKeyRotations":                    op((*kms.Service).ListKeyRotations, readOnly),
		"ReplicateKey":                        op((*kms.Service).ReplicateKey, mutating),
		"UpdatePrimaryRegion":                 op((*kms.Service).UpdatePrimaryRegion, mutating),
		"GetKeyLastUsage":                     op((*kms.Service).GetKeyLastUsage, readOnly),
		"DescribeCustomKeyStores":             op((*kms.Service).DescribeCustomKeyStores, readOnly),
		"CreateCustomKeyStore":                op((*kms.Service).CreateCustomKeyStore, mutating),
		"UpdateCustomKeyStore":                op((*kms.Service).UpdateCustomKeyStore, mutating),
		"DeleteCustomKeyStore":                op((*kms.Service).DeleteCustomKeyStore, mutating),
		"ConnectCustomKeyStore":               op((*kms.Service).ConnectCustomKeyStore, mutating),
		"DisconnectCustomKeyStore":            op((*kms.Service).DisconnectCustomKeyStore, mutating),
		"Encrypt":                             crypto("Encrypt", (*kms.Service).Encrypt),
		"Decrypt":                             crypto("Decrypt", (*kms.Service).Decrypt),
		"ReEncrypt":                           crypto("ReEncrypt", (*kms.Service).ReEncrypt),
		"GenerateDataKey":                     crypto("GenerateDataKey", (*kms.Service).GenerateDataKey),
		"GenerateDataKeyWithoutPlaintext":     crypto("GenerateDataKeyWithoutPlaintext", (*kms.Service).GenerateDataKeyWithoutPlaintext),
		"GenerateRandom":                      op((*kms.Service).GenerateRandom, readOnly),
		"Sign":                                crypto("Sign", (*kms.Service).Sign),
		"Verify":                              crypto("Verify", (*kms.Service).Verify),
		"GetPublicKey":                        op((*kms.Service).GetPublicKey, readOnly),
		"GenerateMac":                         crypto("GenerateMac", (*kms.Service).GenerateMac),
		"VerifyMac":                           crypto("VerifyMac", (*kms.Service).VerifyMac),
		"GenerateDataKeyPair":                 crypto("GenerateDataKeyPair", (*kms.Service).GenerateDataKeyPair),
		"GenerateDataKeyPairWithoutPlaintext": crypto("GenerateDataKeyPairWithoutPlaintext", (*kms.Service).GenerateDataKeyPairWithoutPlaintext),
		"DeriveSharedSecret":                  crypto("DeriveSharedSecret", (*kms.Service).DeriveSharedSecret),
		"Encapsulate":                         crypto("Encapsulate", (*kms.Service).Encapsulate),
		"Decapsulate":                         crypto("Decapsulate", (*kms.Service).Decapsulate),
	}
}

// crypto routes a cryptographic operation: read-only, as CloudTrail counts
// it, and recorded as the last use of its keys when it succeeds
// (GetKeyLastUsage).
func crypto[I, O any, PI input[I], PO output[O]](name kmsapi.KeyLastUsageTrackingOperation, f func(*kms.Service, context.Context, *kms.Call, PI) (PO, error)) operation {
	return op[I, O, PI, PO](kms.RecordsUse(name, f), readOnly)
}

// knownOperation reports whether name is an operation of the AWS KMS API.
func knownOperation(name string) bool {
	_, found := slices.BinarySearch(kmsapi.Operations, name)
	return found
}
