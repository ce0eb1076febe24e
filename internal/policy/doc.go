// Package policy is the AWS IAM policy language: it parses and validates
// key policies, identity policies and trust policies, evaluates them
// against a request, and combines them into the KMS authorization decision
// with the statement that decided, so every AccessDenied can be explained.
//
// Documents are parsed once into an immutable, compiled Policy: wildcards
// become small automata and conditions are typed, so Evaluate does no
// parsing, no regexp and, in the common case, no allocation.
//
// Semantics follow the IAM User Guide and the KMS Developer Guide. Where
// they leave room, the choices are:
//
//   - Action matching ignores case in the service prefix and the action
//     name; * and ? match any characters.
//   - In Resource, * and ? stay within one colon-separated ARN segment,
//     except a * that ends a segment, which may extend past colons (the
//     IAM guide's rule). ArnEquals and ArnLike compare the first five ARN
//     fields separately and the resource part with wildcards.
//   - Condition keys are case-insensitive: compiled lower-case and looked
//     up in Request.Context, whose keys must be lower-case. That includes
//     the <key> of kms:EncryptionContext:<key>, which AWS documents as not
//     case sensitive; kms:EncryptionContextKeys keeps the case of the keys
//     for policies that need an exact match (see SetEncryptionContext).
//   - A key absent from the request makes a condition false, true for the
//     negated operators (StringNotEquals, NotIpAddress, ArnNotLike, …) and
//     for …IfExists. ForAllValues over an absent or empty key is true,
//     ForAnyValue false. Several values for one key are ORed (NORed for
//     negated operators), several keys and operators are ANDed. Without a
//     set operator a multi-valued key matches when any value does.
//   - Policy variables work in Resource and in the values of the String,
//     Arn and Bool operators of 2012-10-17 policies only. ${*}, ${?} and
//     ${$} are literal characters, substituted text is never a wildcard,
//     and a variable with no single value and no default makes its value
//     match nothing.
//   - NotPrincipal is refused with Allow. In a Deny it leaves a user or a
//     role session out only when its account is listed too (with the user,
//     or with the role or the session), as the IAM guide advises, so a
//     shorter list still denies.
//   - A key policy may name only the condition keys kmsd knows (the kms:
//     keys AWS KMS documents and AWS's global keys, condkeys.go) and none
//     that AWS keeps to IAM policies (aws:ResourceTag, kms:ResourceAliases):
//     a condition on a key nothing fills would be silently false, and a
//     Deny guarded by it would never apply. Identity policies, like IAM's,
//     take any vendor:name key.
//   - Condition values are checked at parse time for their operator:
//     numbers, dates (ISO 8601 or epoch seconds), CIDR blocks, base64 and
//     booleans that would never match are refused with a clear message.
package policy
