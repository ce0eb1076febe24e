package policy

import (
	"strconv"
	"strings"
)

// keyScope says in which policies a condition key may appear.
type keyScope uint8

const (
	// scopeAny: key policies and IAM policies.
	scopeAny keyScope = iota
	// scopeIAM: IAM policies only. AWS KMS refuses the key in a key policy
	// (conditions-kms.md and abac.md: "IAM policies only").
	scopeIAM
)

// conditionKeys are the condition keys kmsd knows, lower-cased: every
// kms: key of AWS's "AWS KMS condition keys" page and the service
// authorization reference for AWS KMS, and AWS's global condition keys
// (including the cross-service keys of role sessions). A key policy may use
// no other key: a condition on a key kmsd never fills would silently be
// false, so a Deny guarded by it would never apply.
//
// The table is read, never written.
var conditionKeys = map[string]keyScope{
	"kms:bypasspolicylockoutsafetycheck":         scopeAny,
	"kms:calleraccount":                          scopeAny,
	"kms:datakeypairspec":                        scopeAny,
	"kms:encryptionalgorithm":                    scopeAny,
	"kms:encryptioncontextkeys":                  scopeAny,
	"kms:expirationmodel":                        scopeAny,
	"kms:grantconstraintsourcearn":               scopeAny,
	"kms:grantconstrainttype":                    scopeAny,
	"kms:grantisforawsresource":                  scopeAny,
	"kms:grantoperations":                        scopeAny,
	"kms:granteeprincipal":                       scopeAny,
	"kms:granteeserviceprincipal":                scopeAny,
	"kms:keyagreementalgorithm":                  scopeAny,
	"kms:keyorigin":                              scopeAny,
	"kms:keyspec":                                scopeAny,
	"kms:keyusage":                               scopeAny,
	"kms:macalgorithm":                           scopeAny,
	"kms:messagetype":                            scopeAny,
	"kms:multiregion":                            scopeAny,
	"kms:multiregionkeytype":                     scopeAny,
	"kms:primaryregion":                          scopeAny,
	"kms:reencryptonsamekey":                     scopeAny,
	"kms:replicaregion":                          scopeAny,
	"kms:requestalias":                           scopeAny,
	"kms:resourcealiases":                        scopeIAM,
	"kms:retiringprincipal":                      scopeAny,
	"kms:retiringserviceprincipal":               scopeAny,
	"kms:rotationperiodindays":                   scopeAny,
	"kms:schedulekeydeletionpendingwindowindays": scopeAny,
	"kms:signingalgorithm":                       scopeAny,
	"kms:trailingdayswithoutkeyusage":            scopeAny,
	"kms:validto":                                scopeAny,
	"kms:viaservice":                             scopeAny,
	"kms:wrappingalgorithm":                      scopeAny,
	"kms:wrappingkeyspec":                        scopeAny,

	// Global keys: properties of the principal.
	"aws:principalarn":              scopeAny,
	"aws:principalaccount":          scopeAny,
	"aws:principalorgpaths":         scopeAny,
	"aws:principalorgid":            scopeAny,
	"aws:principalisawsservice":     scopeAny,
	"aws:principalservicename":      scopeAny,
	"aws:principalservicenameslist": scopeAny,
	"aws:principaltype":             scopeAny,
	"aws:userid":                    scopeAny,
	"aws:username":                  scopeAny,
	// Properties of the role session.
	"aws:assumedroot":                  scopeAny,
	"aws:federatedprovider":            scopeAny,
	"aws:tokenissuetime":               scopeAny,
	"aws:signinsessionarn":             scopeAny,
	"aws:multifactorauthage":           scopeAny,
	"aws:multifactorauthpresent":       scopeAny,
	"aws:chatbotsourcearn":             scopeAny,
	"aws:ec2instancesourcevpc":         scopeAny,
	"aws:ec2instancesourceprivateipv4": scopeAny,
	"aws:sourceidentity":               scopeAny,
	"ec2:roledelivery":                 scopeAny,
	"ec2:sourceinstancearn":            scopeAny,
	"glue:roleassumedby":               scopeAny,
	"glue:credentialissuingservice":    scopeAny,
	"codebuild:buildarn":               scopeAny,
	"codebuild:projectarn":             scopeAny,
	"lambda:sourcefunctionarn":         scopeAny,
	"ssm:sourceinstancearn":            scopeAny,
	"identitystore:userid":             scopeAny,
	"aws:sourceip":                     scopeAny,
	"aws:sourcevpc":                    scopeAny,
	"aws:sourcevpcarn":                 scopeAny,
	"aws:sourcevpce":                   scopeAny,
	"aws:vpceaccount":                  scopeAny,
	"aws:vpceorgid":                    scopeAny,
	"aws:vpceorgpaths":                 scopeAny,
	"aws:vpcsourceip":                  scopeAny,
	"aws:resourceaccount":              scopeAny,
	"aws:resourceorgid":                scopeAny,
	"aws:resourceorgpaths":             scopeAny,
	"aws:calledvia":                    scopeAny,
	"aws:calledviafirst":               scopeAny,
	"aws:calledvialast":                scopeAny,
	"aws:calledviaawsmcp":              scopeAny,
	"aws:viaawsservice":                scopeAny,
	"aws:viaawsmcpservice":             scopeAny,
	"aws:currenttime":                  scopeAny,
	"aws:epochtime":                    scopeAny,
	"aws:referer":                      scopeAny,
	"aws:requestedregion":              scopeAny,
	"aws:tagkeys":                      scopeAny,
	"aws:securetransport":              scopeAny,
	"aws:sourceaccount":                scopeAny,
	"aws:sourcearn":                    scopeAny,
	"aws:sourceorgid":                  scopeAny,
	"aws:sourceorgpaths":               scopeAny,
	"aws:useragent":                    scopeAny,
	"aws:ismcpserviceaction":           scopeAny,
	// The names of tag families, which AWS lists when it refuses them.
	"aws:resourcetag": scopeIAM,
	"kms:resourcetag": scopeIAM,
	// Nitro Enclaves attestation (the PCR families are below).
	"kms:recipientattestation:imagesha384": scopeAny,
}

// keyFamily is a family of condition keys with a variable last part.
type keyFamily struct {
	prefix string
	scope  keyScope
	// valid checks the variable part; nil accepts any non-empty one.
	valid func(rest string) bool
}

var conditionKeyFamilies = []keyFamily{
	{prefix: "kms:encryptioncontext:"},
	{prefix: "aws:requesttag/"},
	{prefix: "aws:principaltag/"},
	{prefix: "aws:resourcetag/", scope: scopeIAM},
	{prefix: "kms:resourcetag/", scope: scopeIAM},
	{prefix: "kms:recipientattestation:pcr", valid: numberUpTo(31)},
	{prefix: "kms:recipientattestation:nitrotpmpcr", valid: numberUpTo(23)},
}

// conditionKeyAliases maps the deprecated names AWS still honours to the
// key that carries the value; they are known wherever that key is.
var conditionKeyAliases = map[string]string{
	"kms:customermasterkeyspec":  "kms:keyspec",
	"kms:customermasterkeyusage": "kms:keyusage",
}

// numberUpTo accepts the decimal numbers 0 to max, without leading zeros.
func numberUpTo(max int) func(string) bool {
	return func(s string) bool {
		n, err := strconv.Atoi(s)
		return err == nil && n >= 0 && n <= max && strconv.Itoa(n) == s
	}
}

// lookupConditionKey reports whether kmsd knows the lower-cased canonical
// key (see canonicalKey), and where it may appear.
func lookupConditionKey(key string) (keyScope, bool) {
	if s, ok := conditionKeys[key]; ok {
		return s, true
	}
	for _, f := range conditionKeyFamilies {
		rest, ok := strings.CutPrefix(key, f.prefix)
		if ok && rest != "" && (f.valid == nil || f.valid(rest)) {
			return f.scope, true
		}
	}
	return 0, false
}

// canonicalKey returns the lower-cased key a condition reads its value
// from: the current name of a deprecated one, else key itself.
func canonicalKey(key string) string {
	if k, ok := conditionKeyAliases[key]; ok {
		return k
	}
	return key
}

// allowedInKeyPolicy is the rule AWS KMS applies to characters: a key
// policy document may hold only tab, line feed, carriage return and
// U+0020 through U+00FF (the PolicyType pattern of the KMS API model).
func allowedInKeyPolicy(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xFF
}

// checkKeyPolicyText refuses a character a key policy may not hold. It is
// applied to the document and to every string the document decodes to, so
// that a JSON escape such as \u20ac cannot smuggle in what the document
// itself may not contain.
func checkKeyPolicyText(s string) error {
	for _, r := range s {
		if !allowedInKeyPolicy(r) {
			return malformed(msgKeyPolicyCharacter, r)
		}
	}
	return nil
}
