package api

import (
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
		"Encrypt":                             op((*kms.Service).Encrypt, readOnly),
		"Decrypt":                             op((*kms.Service).Decrypt, readOnly),
		"ReEncrypt":                           op((*kms.Service).ReEncrypt, readOnly),
		"GenerateDataKey":                     op((*kms.Service).GenerateDataKey, readOnly),
		"GenerateDataKeyWithoutPlaintext":     op((*kms.Service).GenerateDataKeyWithoutPlaintext, readOnly),
		"GenerateRandom":                      op((*kms.Service).GenerateRandom, readOnly),
		"Sign":                                op((*kms.Service).Sign, readOnly),
		"Verify":                              op((*kms.Service).Verify, readOnly),
		"GetPublicKey":                        op((*kms.Service).GetPublicKey, readOnly),
		"GenerateMac":                         op((*kms.Service).GenerateMac, readOnly),
		"VerifyMac":                           op((*kms.Service).VerifyMac, readOnly),
		"GenerateDataKeyPair":                 op((*kms.Service).GenerateDataKeyPair, readOnly),
		"GenerateDataKeyPairWithoutPlaintext": op((*kms.Service).GenerateDataKeyPairWithoutPlaintext, readOnly),
		"DeriveSharedSecret":                  op((*kms.Service).DeriveSharedSecret, readOnly),
		"Encapsulate":                         op((*kms.Service).Encapsulate, readOnly),
		"Decapsulate":                         op((*kms.Service).Decapsulate, readOnly),
	}
}

// knownOperation reports whether name is an operation of the AWS KMS API.
func knownOperation(name string) bool {
	_, found := slices.BinarySearch(kmsapi.Operations, name)
	return found
}
