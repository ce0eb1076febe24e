package policy

import (
	"strings"
)

func conditionDecisionCases() []decisionCase {
	var out []decisionCase
	for _, c := range conditionCases() {
		who := alice
		if c.caller != nil {
			who = *c.caller
		}
		// "*" allows directly in the key's account; elsewhere the caller's
		// IAM must agree, which only the root user does without a policy.
		allowed := KeyPolicyAllows
		if who.Account != "" && who.Account != acctA {
			allowed = NoIdentityPolicyAllows
			if who.Type == Root {
				allowed = IdentityPolicyAllows
			}
		}
		key := doc(stmt(allow, anyP, kmsAll, anyRes, cond(c.block)))
		want := NoResourcePolicyAllows
		if c.match {
			want = allowed
		}
		out = append(out, decisionCase{name: "condition " + c.name, key: key, caller: who, ctx: c.ctx, at: c.at, noTime: c.noTime, want: want})

		// The same block on a Deny: it denies exactly when it holds.
		dkey := doc(stmt(allow, anyP, kmsAll, anyRes), stmt(deny, anyP, kmsAll, anyRes, cond(c.block)))
		want = allowed
		if c.match {
			want = ResourcePolicyDenies
		}
		out = append(out, decisionCase{name: "deny condition " + c.name, key: dkey, caller: who, ctx: c.ctx, at: c.at, noTime: c.noTime, want: want})
	}
	return out
}

func ctx(kv ...string) Context {
	c := Context{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		c[k] = append(c[k], kv[i+1])
	}
	return c
}

func ec(pairs ...string) Context {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	c := Context{}
	c.SetEncryptionContext(m)
	return c
}

func conditionCases() []condCase {
	tags := Context{"aws:tagkeys": {"Owner", "Project"}}
	empty := Context{"aws:tagkeys": {}}
	return []condCase{
		// String operators.
		{name: "StringEquals match", block: `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringEquals mismatch", block: `{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringEquals is case sensitive", block: `{"StringEquals":{"kms:ViaService":"EC2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringEquals key name case insensitive", block: `{"StringEquals":{"KMS:VIASERVICE":"ec2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:viaservice", viaEC2), match: true},
		{name: "StringEquals absent key", block: `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`},
		{name: "StringEquals values ORed", block: `{"StringEquals":{"kms:ViaService":["s3.us-east-1.amazonaws.com","ec2.us-east-1.amazonaws.com"]}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringEquals keys ANDed, one fails", block: `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com","kms:CallerAccount":"444455556666"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringEquals keys ANDed, both hold", block: `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com","kms:CallerAccount":"111122223333"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "operators ANDed, one fails", block: `{"StringEquals":{"kms:CallerAccount":"111122223333"},"Bool":{"aws:SecureTransport":"true"}}`, ctx: ctx("aws:SecureTransport", "false")},
		{name: "operators ANDed, both hold", block: `{"StringEquals":{"kms:CallerAccount":"111122223333"},"Bool":{"aws:SecureTransport":"true"}}`, ctx: ctx("aws:SecureTransport", "true"), match: true},
		{name: "StringNotEquals different value", block: `{"StringNotEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringNotEquals same value", block: `{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringNotEquals absent key is true", block: `{"StringNotEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, match: true},
		{name: "StringNotEquals values NORed, one equal", block: `{"StringNotEquals":{"kms:ViaService":["s3.us-east-1.amazonaws.com","ec2.us-east-1.amazonaws.com"]}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringNotEquals values NORed, none equal", block: `{"StringNotEquals":{"kms:ViaService":["s3.us-east-1.amazonaws.com","rds.us-east-1.amazonaws.com"]}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringEqualsIgnoreCase match", block: `{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"PLATFORM"}}`, ctx: ctx("aws:PrincipalTag/team", "platform"), match: true},
		{name: "StringEqualsIgnoreCase mismatch", block: `{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"data"}}`, ctx: ctx("aws:PrincipalTag/team", "platform")},
		{name: "StringNotEqualsIgnoreCase same but case", block: `{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"PLATFORM"}}`, ctx: ctx("aws:PrincipalTag/team", "platform")},
		{name: "StringNotEqualsIgnoreCase different", block: `{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"data"}}`, ctx: ctx("aws:PrincipalTag/team", "platform"), match: true},
		{name: "StringLike star", block: `{"StringLike":{"kms:ViaService":"ec2.*.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringLike question mark", block: `{"StringLike":{"kms:ViaService":"ec?.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringLike mismatch", block: `{"StringLike":{"kms:ViaService":"s3.*"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringLike is case sensitive", block: `{"StringLike":{"kms:ViaService":"EC2.*"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringLike star spans colons", block: `{"StringLike":{"aws:SourceArn":"arn:aws:s3:*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:s3:::bucket/a:b"), match: true},
		{name: "StringNotLike mismatch is true", block: `{"StringNotLike":{"kms:ViaService":"s3.*"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringNotLike match is false", block: `{"StringNotLike":{"kms:ViaService":"ec2.*"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringNotLike absent is true", block: `{"StringNotLike":{"kms:ViaService":"ec2.*"}}`, match: true},
		{name: "StringEquals against literal star", block: `{"StringEquals":{"aws:PrincipalTag/x":"a*"}}`, ctx: ctx("aws:PrincipalTag/x", "a*"), match: true},
		{name: "StringEquals star is not a wildcard", block: `{"StringEquals":{"aws:PrincipalTag/x":"a*"}}`, ctx: ctx("aws:PrincipalTag/x", "ab")},
		{name: "kms:CallerAccount from the caller", block: `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, match: true},
		{name: "kms:CallerAccount of another account", block: `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, caller: &bob},
		{name: "aws:PrincipalAccount", block: `{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, match: true},
		{name: "aws:PrincipalType user", block: `{"StringEquals":{"aws:PrincipalType":"User"}}`, match: true},
		{name: "aws:PrincipalType root is Account", block: `{"StringEquals":{"aws:PrincipalType":"Account"}}`, caller: &rootA, match: true},
		{name: "aws:PrincipalServiceName", block: `{"StringEquals":{"aws:PrincipalServiceName":"ec2.amazonaws.com"}}`, caller: &ec2, match: true},
		{name: "aws:PrincipalIsAWSService false for users", block: `{"Bool":{"aws:PrincipalIsAWSService":"true"}}`},
		{name: "aws:username for a user", block: `{"StringEquals":{"aws:username":"alice"}}`, match: true},
		{name: "aws:username absent for a role session", block: `{"StringEquals":{"aws:username":"Admin"}}`, caller: &sess},
		{name: "aws:userid of a session", block: `{"StringLike":{"aws:userid":"AROAADMIN:*"}}`, caller: &sess, match: true},
		{name: "aws:userid of root is the account", block: `{"StringEquals":{"aws:userid":"111122223333"}}`, caller: &rootA, match: true},
		{name: "aws:ResourceAccount from the key ARN", block: `{"StringEquals":{"aws:ResourceAccount":"111122223333"}}`, match: true},

		// Numeric operators.
		{name: "NumericEquals match", block: `{"NumericEquals":{"kms:RotationPeriodInDays":"365"}}`, ctx: ctx("kms:RotationPeriodInDays", "365"), match: true},
		{name: "NumericEquals mismatch", block: `{"NumericEquals":{"kms:RotationPeriodInDays":"365"}}`, ctx: ctx("kms:RotationPeriodInDays", "180")},
		{name: "NumericEquals JSON number", block: `{"NumericEquals":{"kms:RotationPeriodInDays":365}}`, ctx: ctx("kms:RotationPeriodInDays", "365.0"), match: true},
		{name: "NumericNotEquals match", block: `{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}}`, ctx: ctx("kms:RotationPeriodInDays", "180"), match: true},
		{name: "NumericNotEquals same", block: `{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}}`, ctx: ctx("kms:RotationPeriodInDays", "365")},
		{name: "NumericNotEquals absent is true", block: `{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}}`, match: true},
		{name: "NumericLessThan true", block: `{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "7"), match: true},
		{name: "NumericLessThan equal is false", block: `{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "30")},
		{name: "NumericLessThanEquals equal", block: `{"NumericLessThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "30"), match: true},
		{name: "NumericLessThanEquals greater", block: `{"NumericLessThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "31")},
		{name: "NumericGreaterThan true", block: `{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"20"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "30"), match: true},
		{name: "NumericGreaterThan false", block: `{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"20"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "7")},
		{name: "NumericGreaterThanEquals equal", block: `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"20"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "20"), match: true},
		{name: "NumericGreaterThanEquals less", block: `{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"20"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "19.5")},
		{name: "Numeric request value not a number", block: `{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`, ctx: ctx("kms:ScheduleKeyDeletionPendingWindowInDays", "seven")},
		{name: "Numeric absent is false", block: `{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}}`},
		{name: "Numeric against aws:EpochTime", block: `{"NumericGreaterThan":{"aws:EpochTime":"1700000000"}}`, match: true},

		// Date operators.
		{name: "DateLessThan current time before", block: `{"DateLessThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}`, match: true},
		{name: "DateLessThan current time after", block: `{"DateLessThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}`},
		{name: "DateGreaterThan date only", block: `{"DateGreaterThan":{"aws:CurrentTime":"2024-05-31"}}`, match: true},
		{name: "DateGreaterThan epoch seconds", block: `{"DateGreaterThan":{"aws:CurrentTime":"1717243201"}}`},
		{name: "DateEquals exact", block: `{"DateEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, match: true},
		{name: "DateEquals with offset", block: `{"DateEquals":{"aws:CurrentTime":"2024-06-01T14:00:00+02:00"}}`, match: true},
		{name: "DateNotEquals differs", block: `{"DateNotEquals":{"aws:CurrentTime":"2024-06-01T12:00:01Z"}}`, match: true},
		{name: "DateNotEquals same", block: `{"DateNotEquals":{"aws:CurrentTime":"1717243200"}}`},
		{name: "DateLessThanEquals at the instant", block: `{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}`, match: true},
		{name: "DateGreaterThanEquals at the instant", block: `{"DateGreaterThanEquals":{"aws:EpochTime":"1717243200"}}`, match: true},
		{name: "DateGreaterThanEquals just after", block: `{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00.001Z"}}`},
		{name: "Date from a context value", block: `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, ctx: ctx("kms:ValidTo", "1893455999"), match: true},
		{name: "Date from a context value after", block: `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, ctx: ctx("kms:ValidTo", "2031-01-01T00:00:00Z")},
		{name: "Date with unparsable request value", block: `{"DateLessThan":{"kms:ValidTo":"2030-01-01T00:00:00Z"}}`, ctx: ctx("kms:ValidTo", "soon")},
		{name: "Date with no request time", block: `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, noTime: true},
		{name: "DateNotEquals with no request time", block: `{"DateNotEquals":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, noTime: true, match: true},

		// Bool.
		{name: "Bool true matches", block: `{"Bool":{"aws:SecureTransport":"true"}}`, ctx: ctx("aws:SecureTransport", "true"), match: true},
		{name: "Bool true vs false", block: `{"Bool":{"aws:SecureTransport":"true"}}`, ctx: ctx("aws:SecureTransport", "false")},
		{name: "Bool JSON boolean", block: `{"Bool":{"aws:SecureTransport":false}}`, ctx: ctx("aws:SecureTransport", "false"), match: true},
		{name: "Bool ignores case", block: `{"Bool":{"aws:SecureTransport":"True"}}`, ctx: ctx("aws:SecureTransport", "true"), match: true},
		{name: "Bool absent is false", block: `{"Bool":{"aws:SecureTransport":"false"}}`},

		// BinaryEquals.
		{name: "BinaryEquals match", block: `{"BinaryEquals":{"aws:PrincipalTag/blob":"QmluYXJ5"}}`, ctx: ctx("aws:PrincipalTag/blob", "QmluYXJ5"), match: true},
		{name: "BinaryEquals mismatch", block: `{"BinaryEquals":{"aws:PrincipalTag/blob":"QmluYXJ5"}}`, ctx: ctx("aws:PrincipalTag/blob", "QmluYXJ6")},
		{name: "BinaryEquals request not base64", block: `{"BinaryEquals":{"aws:PrincipalTag/blob":"QmluYXJ5"}}`, ctx: ctx("aws:PrincipalTag/blob", "not base64!")},

		// IpAddress.
		{name: "IpAddress in IPv4 CIDR", block: `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx: ctx("aws:SourceIp", "203.0.113.7"), match: true},
		{name: "IpAddress outside IPv4 CIDR", block: `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx: ctx("aws:SourceIp", "198.51.100.7")},
		{name: "IpAddress single address", block: `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, ctx: ctx("aws:SourceIp", "203.0.113.7"), match: true},
		{name: "IpAddress in IPv6 CIDR", block: `{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}`, ctx: ctx("aws:SourceIp", "2001:db8:1234:5678::1"), match: true},
		{name: "IpAddress outside IPv6 CIDR", block: `{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}`, ctx: ctx("aws:SourceIp", "2001:db8:1234:5679::1")},
		{name: "IpAddress IPv4-mapped request", block: `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx: ctx("aws:SourceIp", "::ffff:203.0.113.9"), match: true},
		{name: "IpAddress list ORed", block: `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, ctx: ctx("aws:SourceIp", "10.1.2.3"), match: true},
		{name: "IpAddress bad request value", block: `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, ctx: ctx("aws:SourceIp", "localhost")},
		{name: "NotIpAddress outside", block: `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx: ctx("aws:SourceIp", "198.51.100.7"), match: true},
		{name: "NotIpAddress inside", block: `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx: ctx("aws:SourceIp", "203.0.113.7")},
		{name: "NotIpAddress absent is true", block: `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, match: true},

		// ARN operators.
		{name: "ArnEquals exact", block: `{"ArnEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-1:111122223333:trail/t1"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/t1"), match: true},
		{name: "ArnEquals takes wildcards", block: `{"ArnEquals":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/t1"), match: true},
		{name: "ArnLike wildcard field", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:eu-west-1:111122223333:trail/x"), match: true},
		{name: "ArnLike wrong account", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:eu-west-1:444455556666:trail/x")},
		{name: "ArnLike star stays in its field", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:*:111122223333:trail/x"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/x")},
		{name: "ArnLike resource part spans colons", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:logs:us-east-1:111122223333:*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:logs:us-east-1:111122223333:log-group:g:*"), match: true},
		{name: "ArnLike is case sensitive", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/T1"}}`, ctx: ctx("aws:SourceArn", "arn:aws:cloudtrail:us-east-1:111122223333:trail/t1")},
		{name: "ArnLike on aws:PrincipalArn of a session", block: `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/Adm*"}}`, caller: &sess, match: true},
		{name: "ArnEquals on role ARN with path", block: `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/ops/Admin"}}`, caller: &Request{Principal: sessARN, Account: acctA, Type: AssumedRole, RoleARN: "arn:aws:iam::111122223333:role/ops/Admin"}, match: true},
		{name: "ArnNotEquals different", block: `{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/carol"}}`, match: true},
		{name: "ArnNotEquals same", block: `{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`},
		{name: "ArnNotLike matching pattern", block: `{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/*"}}`},
		{name: "ArnNotLike absent is true", block: `{"ArnNotLike":{"aws:SourceArn":"arn:aws:iam::*:user/*"}}`, match: true},
		{name: "ArnLike lone star", block: `{"ArnLike":{"aws:SourceArn":"*"}}`, ctx: ctx("aws:SourceArn", "arn:aws:s3:::b"), match: true},
		{name: "ArnLike request not an ARN", block: `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, ctx: ctx("aws:SourceArn", "bucket")},

		// Null.
		{name: "Null true on absent key", block: `{"Null":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}`, match: true},
		{name: "Null true on present key", block: `{"Null":{"kms:BypassPolicyLockoutSafetyCheck":"true"}}`, ctx: ctx("kms:BypassPolicyLockoutSafetyCheck", "false")},
		{name: "Null false on present key", block: `{"Null":{"kms:BypassPolicyLockoutSafetyCheck":false}}`, ctx: ctx("kms:BypassPolicyLockoutSafetyCheck", "true"), match: true},
		{name: "Null false on absent key", block: `{"Null":{"kms:BypassPolicyLockoutSafetyCheck":"false"}}`},
		{name: "Null true on empty multi-valued key", block: `{"Null":{"aws:TagKeys":"true"}}`, ctx: empty, match: true},
		{name: "Null on a derived key", block: `{"Null":{"aws:username":"true"}}`, caller: &sess, match: true},

		// IfExists.
		{name: "StringEqualsIfExists absent", block: `{"StringEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}`, match: true},
		{name: "StringEqualsIfExists present mismatch", block: `{"StringEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringEqualsIfExists present match", block: `{"StringEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2), match: true},
		{name: "StringNotEqualsIfExists present same", block: `{"StringNotEqualsIfExists":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, ctx: ctx("kms:ViaService", viaEC2)},
		{name: "StringLikeIfExists absent", block: `{"StringLikeIfExists":{"kms:ViaService":"s3.*"}}`, match: true},
		{name: "NumericLessThanIfExists absent", block: `{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":"100"}}`, match: true},
		{name: "NumericLessThanIfExists present fails", block: `{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":"100"}}`, ctx: ctx("kms:RotationPeriodInDays", "365")},
		{name: "DateGreaterThanIfExists absent", block: `{"DateGreaterThanIfExists":{"kms:ValidTo":"2030-01-01"}}`, match: true},
		{name: "BoolIfExists absent", block: `{"BoolIfExists":{"aws:SecureTransport":"true"}}`, match: true},
		{name: "BoolIfExists present false", block: `{"BoolIfExists":{"aws:SecureTransport":"true"}}`, ctx: ctx("aws:SecureTransport", "false")},
		{name: "IpAddressIfExists absent", block: `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, match: true},
		{name: "NotIpAddressIfExists inside", block: `{"NotIpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx: ctx("aws:SourceIp", "10.9.9.9")},
		{name: "ArnLikeIfExists absent", block: `{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::b"}}`, match: true},
		{name: "BinaryEqualsIfExists absent", block: `{"BinaryEqualsIfExists":{"aws:PrincipalTag/blob":"QmluYXJ5"}}`, match: true},
		{name: "DateLessThanIfExists derived time present", block: `{"DateLessThanIfExists":{"aws:CurrentTime":"2020-01-01"}}`},

		// ForAnyValue.
		{name: "ForAnyValue one matches", block: `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner","CostCenter"]}}`, ctx: tags, match: true},
		{name: "ForAnyValue none matches", block: `{"ForAnyValue:StringEquals":{"aws:TagKeys":["CostCenter"]}}`, ctx: tags},
		{name: "ForAnyValue absent is false", block: `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`},
		{name: "ForAnyValue empty is false", block: `{"ForAnyValue:StringEquals":{"aws:TagKeys":["Owner"]}}`, ctx: empty},
		{name: "ForAnyValue StringLike", block: `{"ForAnyValue:StringLike":{"aws:TagKeys":"Proj*"}}`, ctx: tags, match: true},
		{name: "ForAnyValue StringNotEquals some differs", block: `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"Owner"}}`, ctx: tags, match: true},
		{name: "ForAnyValue StringNotEquals all listed", block: `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["Owner","Project"]}}`, ctx: tags},
		{name: "ForAnyValue StringNotEquals absent is false", block: `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"Owner"}}`},
		{name: "ForAnyValue IfExists absent", block: `{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"Owner"}}`, match: true},

		// ForAllValues.
		{name: "ForAllValues all listed", block: `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner","Project","CostCenter"]}}`, ctx: tags, match: true},
		{name: "ForAllValues one unlisted", block: `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]}}`, ctx: tags},
		{name: "ForAllValues absent is true", block: `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]}}`, match: true},
		{name: "ForAllValues empty is true", block: `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]}}`, ctx: empty, match: true},
		{name: "ForAllValues StringLike", block: `{"ForAllValues:StringLike":{"aws:TagKeys":["Own*","Pro*"]}}`, ctx: tags, match: true},
		{name: "ForAllValues StringNotLike none match", block: `{"ForAllValues:StringNotLike":{"aws:TagKeys":"Secret*"}}`, ctx: tags, match: true},
		{name: "ForAllValues StringNotLike one matches", block: `{"ForAllValues:StringNotLike":{"aws:TagKeys":"Own*"}}`, ctx: tags},
		{name: "ForAllValues with Null guard on absent", block: `{"ForAllValues:StringEquals":{"aws:TagKeys":["Owner"]},"Null":{"aws:TagKeys":"false"}}`},
		{name: "ForAllValues kms:GrantOperations subset", block: `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, ctx: Context{"kms:grantoperations": {"Decrypt"}}, match: true},
		{name: "ForAllValues kms:GrantOperations wider", block: `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, ctx: Context{"kms:grantoperations": {"Decrypt", "CreateGrant"}}},
		{name: "deprecated kms:CustomerMasterKeySpec reads kms:KeySpec", block: `{"StringEquals":{"kms:CustomerMasterKeySpec":"RSA_2048"}}`, ctx: ctx("kms:KeySpec", "RSA_2048"), match: true},
		{name: "deprecated kms:CustomerMasterKeySpec mismatch", block: `{"StringEquals":{"kms:CustomerMasterKeySpec":"RSA_2048"}}`, ctx: ctx("kms:KeySpec", "SYMMETRIC_DEFAULT")},
		{name: "deprecated kms:CustomerMasterKeyUsage reads kms:KeyUsage", block: `{"StringEquals":{"KMS:CUSTOMERMASTERKEYUSAGE":"SIGN_VERIFY"}}`, ctx: ctx("kms:KeyUsage", "SIGN_VERIFY"), match: true},
		{name: "multi-valued key without set operator matches any", block: `{"StringEquals":{"aws:TagKeys":"Project"}}`, ctx: tags, match: true},
		{name: "multi-valued key with negated operator and a match", block: `{"StringNotEquals":{"aws:TagKeys":"Project"}}`, ctx: tags},

		// Encryption context keys.
		{name: "EncryptionContext pair", block: `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, ctx: ec("AppName", "ExampleApp"), match: true},
		{name: "EncryptionContext key case ignored", block: `{"StringEquals":{"kms:EncryptionContext:appname":"ExampleApp"}}`, ctx: ec("APPNAME", "ExampleApp"), match: true},
		{name: "EncryptionContext prefix case ignored", block: `{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:AppName":"ExampleApp"}}`, ctx: ec("AppName", "ExampleApp"), match: true},
		{name: "EncryptionContext value case kept", block: `{"StringEquals":{"kms:EncryptionContext:AppName":"exampleapp"}}`, ctx: ec("AppName", "ExampleApp")},
		{name: "EncryptionContext value IgnoreCase", block: `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:AppName":"exampleapp"}}`, ctx: ec("AppName", "ExampleApp"), match: true},
		{name: "EncryptionContext absent", block: `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`},
		{name: "EncryptionContext other pair", block: `{"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, ctx: ec("Stage", "Prod")},
		{name: "EncryptionContext two pairs required", block: `{"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:EncryptionContext:Project":"Alpha"}}`, ctx: ec("Department", "IT", "Project", "Alpha", "Extra", "x"), match: true},
		{name: "EncryptionContext two pairs one missing", block: `{"StringEquals":{"kms:EncryptionContext:Department":"IT","kms:EncryptionContext:Project":"Alpha"}}`, ctx: ec("Department", "IT")},
		{name: "EncryptionContextKeys exact case with ForAnyValue", block: `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"AppName"}}`, ctx: ec("appname", "x")},
		{name: "EncryptionContextKeys ForAllValues limits keys", block: `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]},"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, ctx: ec("AppName", "ExampleApp", "Stage", "x")},
		{name: "EncryptionContextKeys ForAllValues with pair", block: `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]},"StringEquals":{"kms:EncryptionContext:AppName":"ExampleApp"}}`, ctx: ec("AppName", "ExampleApp"), match: true},
		{name: "EncryptionContextKeys ForAllValues alone allows no context", block: `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["AppName"]}}`, match: true},
		{name: "EncryptionContext StringNotEquals absent is true", block: `{"StringNotEquals":{"kms:EncryptionContext:Stage":"Restricted"}}`, match: true},
	}
}

// variableCases pin policy variables in Resource and condition values.
func variableCases() []decisionCase {
	withCond := func(block string) string { return doc(stmt(allow, anyP, kmsAll, anyRes, cond(block))) }
	userKey := "arn:aws:kms:us-east-1:111122223333:key/alice"
	return []decisionCase{
		{name: "variable aws:username in Resource", key: defaultKP, identity: []string{idAllowOn("arn:aws:kms:us-east-1:111122223333:key/${aws:username}", "kms:*")}, resource: userKey, caller: alice, want: IdentityPolicyAllows},
		{name: "variable aws:username in Resource, other user", key: defaultKP, identity: []string{idAllowOn("arn:aws:kms:us-east-1:111122223333:key/${aws:username}", "kms:*")}, resource: userKey, caller: carol, want: NoIdentityPolicyAllows},
		{name: "variable aws:PrincipalAccount in Resource", key: defaultKP, identity: []string{idAllowOn("arn:aws:kms:*:${aws:PrincipalAccount}:key/*", "kms:*")}, caller: alice, want: IdentityPolicyAllows},
		{name: "variable in Resource without value", key: defaultKP, identity: []string{idAllowOn("arn:aws:kms:us-east-1:111122223333:key/${aws:username}", "kms:*")}, resource: userKey, caller: sess, want: NoIdentityPolicyAllows},
		{name: "variable default in Resource", key: defaultKP, identity: []string{idAllowOn("arn:aws:kms:us-east-1:111122223333:key/${aws:username, 'alice'}", "kms:*")}, resource: userKey, caller: sess, want: IdentityPolicyAllows},
		{name: "variable in condition value", key: withCond(`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`), ctx: ec("user", "alice"), caller: alice, want: KeyPolicyAllows},
		{name: "variable in condition value, other user", key: withCond(`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`), ctx: ec("user", "alice"), caller: carol, want: NoResourcePolicyAllows},
		{name: "variable with text around it", key: withCond(`{"StringEquals":{"kms:EncryptionContext:path":"home/${aws:username}/data"}}`), ctx: ec("path", "home/alice/data"), caller: alice, want: KeyPolicyAllows},
		{name: "variable key is case insensitive", key: withCond(`{"StringEquals":{"kms:EncryptionContext:user":"${AWS:UserName}"}}`), ctx: ec("user", "alice"), caller: alice, want: KeyPolicyAllows},
		{name: "variable in StringLike keeps wildcards", key: withCond(`{"StringLike":{"kms:EncryptionContext:path":"${aws:username}/*"}}`), ctx: ec("path", "alice/x/y"), caller: alice, want: KeyPolicyAllows},
		{name: "variable aws:userid", key: withCond(`{"StringEquals":{"kms:EncryptionContext:owner":"${aws:userid}"}}`), ctx: ec("owner", "AROAADMIN:s1"), caller: sess, want: KeyPolicyAllows},
		{name: "variable aws:PrincipalArn in ArnEquals", key: withCond(`{"ArnEquals":{"aws:SourceArn":"${aws:PrincipalArn}"}}`), ctx: ctx("aws:SourceArn", aliceARN), caller: alice, want: KeyPolicyAllows},
		{name: "variable in ArnLike field", key: withCond(`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::${aws:PrincipalAccount}:role/*"}}`), caller: sess, want: KeyPolicyAllows},
		{name: "variable from request context", key: withCond(`{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team}"}}`), ctx: mergeCtx(ec("team", "blue"), ctx("aws:PrincipalTag/team", "blue")), caller: alice, want: KeyPolicyAllows},
		{name: "variable default used when key absent", key: withCond(`{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team, 'none'}"}}`), ctx: ec("team", "none"), caller: alice, want: KeyPolicyAllows},
		{name: "variable default unused when key present", key: withCond(`{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team, 'none'}"}}`), ctx: mergeCtx(ec("team", "none"), ctx("aws:PrincipalTag/team", "blue")), caller: alice, want: NoResourcePolicyAllows},
		{name: "unresolved variable matches nothing", key: withCond(`{"StringEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team}"}}`), ctx: ec("team", "${aws:PrincipalTag/team}"), caller: alice, want: NoResourcePolicyAllows},
		{name: "unresolved variable drops out of a negated operator", key: withCond(`{"StringNotEquals":{"kms:EncryptionContext:team":"${aws:PrincipalTag/team}"}}`), ctx: ec("team", "blue"), caller: alice, want: KeyPolicyAllows},
		{name: "escape ${*} is a literal star", key: withCond(`{"StringLike":{"kms:EncryptionContext:k":"a${*}"}}`), ctx: ec("k", "a*"), caller: alice, want: KeyPolicyAllows},
		{name: "escape ${*} is not a wildcard", key: withCond(`{"StringLike":{"kms:EncryptionContext:k":"a${*}"}}`), ctx: ec("k", "ab"), caller: alice, want: NoResourcePolicyAllows},
		{name: "escape ${?} is a literal question mark", key: withCond(`{"StringLike":{"kms:EncryptionContext:k":"why${?}"}}`), ctx: ec("k", "why?"), caller: alice, want: KeyPolicyAllows},
		{name: "escape ${?} is not a wildcard", key: withCond(`{"StringLike":{"kms:EncryptionContext:k":"why${?}"}}`), ctx: ec("k", "whyX"), caller: alice, want: NoResourcePolicyAllows},
		{name: "escape ${$} is a dollar", key: withCond(`{"StringEquals":{"kms:EncryptionContext:k":"${$}{x}"}}`), ctx: ec("k", "${x}"), caller: alice, want: KeyPolicyAllows},
		{name: "2008 policy keeps variables literal", key: doc2008(stmt(allow, anyP, kmsAll, anyRes, cond(`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`))), ctx: ec("user", "${aws:username}"), caller: alice, want: KeyPolicyAllows},
		{name: "2008 policy does not substitute", key: doc2008(stmt(allow, anyP, kmsAll, anyRes, cond(`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`))), ctx: ec("user", "alice"), caller: alice, want: NoResourcePolicyAllows},
		{name: "policy without Version is 2008", key: `{"Statement":[` + stmt(allow, anyP, kmsAll, anyRes, cond(`{"StringEquals":{"kms:EncryptionContext:user":"${aws:username}"}}`)) + `]}`, ctx: ec("user", "alice"), caller: alice, want: NoResourcePolicyAllows},
		{name: "multi-valued key is not a variable", key: withCond(`{"StringEquals":{"kms:EncryptionContext:k":"${aws:TagKeys}"}}`), ctx: mergeCtx(ec("k", "Owner"), Context{"aws:tagkeys": {"Owner", "Project"}}), caller: alice, want: NoResourcePolicyAllows},
		{name: "variable in Bool", key: withCond(`{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/tls}"}}`), ctx: ctx("aws:SecureTransport", "true", "aws:PrincipalTag/tls", "TRUE"), caller: alice, want: KeyPolicyAllows},
		{name: "variable aws:CurrentTime as text", key: withCond(`{"StringLike":{"kms:EncryptionContext:day":"${aws:CurrentTime}"}}`), ctx: ec("day", "2024-06-01T12:00:00Z"), caller: alice, want: KeyPolicyAllows},
	}
}

// iamOnlyKeyCases pin the condition keys AWS KMS accepts in IAM policies
// only (ParseKeyPolicy refuses them): they decide through identity
// policies, from the key's own context.
func iamOnlyKeyCases() []decisionCase {
	aliases := Context{"kms:resourcealiases": {"alias/test-app", "alias/prod-app"}}
	tagged := Context{"aws:resourcetag/env": {"prod"}}
	allowIf := func(block string) string { return doc(stmt(allow, kmsAll, anyRes, cond(block))) }
	denyIf := func(block string) string {
		return doc(stmt(allow, kmsAll, anyRes), stmt(deny, kmsAll, anyRes, cond(block)))
	}
	const prodAlias = `{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/prod-*"}}`
	const prodTag = `{"StringEquals":{"aws:ResourceTag/Env":"prod"}}`
	return []decisionCase{
		{name: "identity allow on kms:ResourceAliases", key: defaultKP, identity: []string{allowIf(prodAlias)}, ctx: aliases, caller: alice, want: IdentityPolicyAllows},
		{name: "identity allow on kms:ResourceAliases, no alias", key: defaultKP, identity: []string{allowIf(prodAlias)}, caller: alice, want: NoIdentityPolicyAllows},
		{name: "identity deny on kms:ResourceAliases", key: defaultKP, identity: []string{denyIf(prodAlias)}, ctx: aliases, caller: alice, want: IdentityPolicyDenies},
		{name: "identity deny on kms:ResourceAliases, other aliases", key: defaultKP, identity: []string{denyIf(prodAlias)}, ctx: Context{"kms:resourcealiases": {"alias/test-app"}}, caller: alice, want: IdentityPolicyAllows},
		{name: "identity deny on kms:ResourceAliases with ForAllValues, no alias", key: defaultKP, identity: []string{denyIf(`{"ForAllValues:StringLike":{"kms:ResourceAliases":"alias/test-*"}}`)}, caller: alice, want: IdentityPolicyDenies},
		{name: "identity allow on aws:ResourceTag", key: defaultKP, identity: []string{allowIf(prodTag)}, ctx: tagged, caller: alice, want: IdentityPolicyAllows},
		{name: "identity allow on aws:ResourceTag, untagged", key: defaultKP, identity: []string{allowIf(prodTag)}, caller: alice, want: NoIdentityPolicyAllows},
		{name: "identity deny on aws:ResourceTag", key: defaultKP, identity: []string{denyIf(prodTag)}, ctx: tagged, caller: alice, want: IdentityPolicyDenies},
		{name: "identity deny on aws:ResourceTag, other value", key: defaultKP, identity: []string{denyIf(prodTag)}, ctx: Context{"aws:resourcetag/env": {"dev"}}, caller: alice, want: IdentityPolicyAllows},
	}
}

func mergeCtx(cs ...Context) Context {
	out := Context{}
	for _, c := range cs {
		for k, v := range c {
			out[k] = append(out[k], v...)
		}
	}
	return out
}
