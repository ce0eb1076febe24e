package policy

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wrap puts one statement body into a 2012-10-17 document.
func wrap(body string) string { return doc(stmt(body)) }

func TestParseErrors(t *testing.T) {
	const okStmt = allow + "," + anyP + "," + decrypt + "," + anyRes
	withCond := func(block string) string { return wrap(okStmt + "," + cond(block)) }
	badChar := func(code string) string {
		return "A key policy can include only printable ASCII and Latin-1 characters, tab, line feed and carriage return; it contains U+" + code + "."
	}
	unknownKey := func(key string) string {
		return "Policy contains a statement with a condition key that is not valid in a key policy: " + key
	}
	tests := []struct {
		name  string
		parse func(string) (*Policy, error)
		doc   string
		want  string
	}{
		{"not JSON", Parse, `not a policy`, "The policy is not valid JSON."},
		{"truncated JSON", Parse, `{"Version":"2012-10-17","Statement":[`, "The policy is not valid JSON."},
		{"trailing data", Parse, wrap(okStmt) + ` {}`, "The policy is not valid JSON."},
		{"too deep", Parse, wrap(okStmt + `,"Sid":` + strings.Repeat("[", 40) + strings.Repeat("]", 40)), "The policy is not valid JSON."},
		{"array document", Parse, `[]`, "The policy must be a JSON object."},
		{"string document", Parse, `"policy"`, "The policy must be a JSON object."},
		{"no statement", Parse, `{"Version":"2012-10-17"}`, "The policy must contain a Statement."},
		{"bad version", Parse, `{"Version":"2012-10-18","Statement":[{` + okStmt + `}]}`, `The policy Version must be "2012-10-17" or "2008-10-17".`},
		{"numeric version", Parse, `{"Version":2012,"Statement":[{` + okStmt + `}]}`, `The policy Version must be "2012-10-17" or "2008-10-17".`},
		{"unknown top-level element", Parse, `{"Version":"2012-10-17","Statements":[]}`, `The policy contains an unknown element "Statements".`},
		{"top-level element case", Parse, `{"version":"2012-10-17","Statement":[{` + okStmt + `}]}`, `The policy contains an unknown element "version".`},
		{"Id not a string", Parse, `{"Id":7,"Statement":[{` + okStmt + `}]}`, "The policy Id must be a string."},
		{"statement is a string", Parse, `{"Statement":"Allow"}`, "The policy Statement must be an object or an array of objects."},
		{"empty statement list", Parse, `{"Statement":[]}`, "The policy must contain at least one statement."},
		{"statement is a number", Parse, `{"Statement":[1]}`, "Each policy statement must be a JSON object."},
		{"duplicate top-level element", Parse, `{"Version":"2012-10-17","Version":"2012-10-17","Statement":[{` + okStmt + `}]}`, `Policy document contains the element "Version" more than once in one object.`},
		{"duplicate statement element", Parse, wrap(okStmt + `,"Effect":"Deny"`), `Policy document contains the element "Effect" more than once in one object.`},
		{"duplicate key in a large object", Parse, withCond(`{"StringEquals":{` + manyKeys(20) + `,"a:k3":"x"}}`), `Policy document contains the element "a:k3" more than once in one object.`},
		{"unknown statement element", Parse, wrap(okStmt + `,"Actions":"kms:*"`), `The statement contains an unknown element "Actions".`},
		{"statement element case", Parse, wrap(okStmt + `,"condition":{}`), `The statement contains an unknown element "condition".`},
		{"missing Effect", Parse, wrap(anyP + "," + decrypt + "," + anyRes), `Each statement must have an Effect of "Allow" or "Deny".`},
		{"lower-case Effect", Parse, wrap(`"Effect":"allow",` + anyP + "," + decrypt + "," + anyRes), `The statement Effect must be "Allow" or "Deny".`},
		{"boolean Effect", Parse, wrap(`"Effect":true,` + anyP + "," + decrypt + "," + anyRes), `The statement Effect must be "Allow" or "Deny".`},
		{"Sid not a string", Parse, wrap(okStmt + `,"Sid":1`), "The statement Sid must be a string."},
		{"duplicate Sid", Parse, doc(stmt(sid("a"), okStmt), stmt(sid("a"), okStmt)), "Statement IDs (SID) in a single policy must be unique."},
		{"Action and NotAction", Parse, wrap(okStmt + `,"NotAction":"kms:Encrypt"`), "A statement cannot contain both Action and NotAction."},
		{"Principal and NotPrincipal", Parse, wrap(okStmt + `,"NotPrincipal":{"AWS":"111122223333"}`), "A statement cannot contain both Principal and NotPrincipal."},
		{"Resource and NotResource", Parse, wrap(okStmt + `,"NotResource":"*"`), "A statement cannot contain both Resource and NotResource."},
		{"NotPrincipal with Allow", Parse, wrap(allow + `,"NotPrincipal":{"AWS":"111122223333"},` + decrypt + "," + anyRes), `NotPrincipal is supported only in statements with "Effect": "Deny".`},
		{"action without vendor", Parse, wrap(allow + "," + anyP + `,"Action":"Decrypt",` + anyRes), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"action with empty name", Parse, wrap(allow + "," + anyP + `,"Action":"kms:",` + anyRes), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"action with two colons", Parse, wrap(allow + "," + anyP + `,"Action":"kms:Decrypt:now",` + anyRes), "Actions/Condition can contain only one colon."},
		{"action vendor with space", Parse, wrap(allow + "," + anyP + `,"Action":"k ms:Decrypt",` + anyRes), "Vendor k ms is not valid"},
		{"action vendor with wildcard", Parse, wrap(allow + "," + anyP + `,"Action":"km*:Decrypt",` + anyRes), "Vendor km* is not valid"},
		{"action is a number", Parse, wrap(allow + "," + anyP + `,"Action":5,` + anyRes), "The statement Action must be a string or an array of strings."},
		{"action list with a number", Parse, wrap(allow + "," + anyP + `,"NotAction":["kms:Decrypt",5],` + anyRes), "The statement NotAction must be a string or an array of strings."},
		{"resource not an ARN", Parse, wrap(allow + "," + anyP + "," + decrypt + `,"Resource":"key/1234"`), `Resource key/1234 must be in ARN format or "*".`},
		{"resource is an object", Parse, wrap(allow + "," + anyP + "," + decrypt + `,"Resource":{}`), "The statement Resource must be a string or an array of strings."},
		{"principal as plain ARN string", Parse, wrap(allow + `,"Principal":"arn:aws:iam::111122223333:root",` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal empty object", Parse, wrap(allow + `,"Principal":{},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal empty list", Parse, wrap(allow + `,"Principal":{"AWS":[]},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal name not an ARN", Parse, wrap(allow + `,"Principal":{"AWS":"alice"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal with wildcard", Parse, wrap(allow + `,"Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal account too short", Parse, wrap(allow + `,"Principal":{"AWS":"11112222333"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal ARN with bad account", Parse, wrap(allow + `,"Principal":{"AWS":"arn:aws:iam::11112222333x:root"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal unique id", Parse, wrap(allow + `,"Principal":{"AWS":"AIDACKCEVSQ6C2EXAMPLE"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal group", Parse, wrap(allow + `,"Principal":{"AWS":"arn:aws:iam::111122223333:group/devs"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal with region", Parse, wrap(allow + `,"Principal":{"AWS":"arn:aws:iam:us-east-1:111122223333:root"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal session without name", Parse, wrap(allow + `,"Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/Admin"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal canonical user", Parse, wrap(allow + `,"Principal":{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal unknown type", Parse, wrap(allow + `,"Principal":{"Users":"alice"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"service principal wildcard", Parse, wrap(allow + `,"Principal":{"Service":"*"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"service principal not a name", Parse, wrap(allow + `,"Principal":{"Service":"ec2 service"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"principal number", Parse, wrap(allow + `,"Principal":{"AWS":123},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"federated provider with wildcard", Parse, wrap(allow + `,"Principal":{"Federated":"arn:aws:iam::111122223333:saml-provider/*"},` + decrypt + "," + anyRes), MsgInvalidPrincipals},
		{"condition not an object", Parse, wrap(okStmt + `,"Condition":[]`), "The statement Condition must be an object of condition operators."},
		{"unknown operator", Parse, withCond(`{"StringEqual":{"kms:ViaService":"x"}}`), `Condition operator "StringEqual" is not valid.`},
		{"operator case", Parse, withCond(`{"stringequals":{"kms:ViaService":"x"}}`), `Condition operator "stringequals" is not valid.`},
		{"NullIfExists", Parse, withCond(`{"NullIfExists":{"kms:ViaService":"true"}}`), `Condition operator "NullIfExists" is not valid.`},
		{"IfExists alone", Parse, withCond(`{"IfExists":{"kms:ViaService":"true"}}`), `Condition operator "IfExists" is not valid.`},
		{"set operator on Null", Parse, withCond(`{"ForAnyValue:Null":{"aws:TagKeys":"true"}}`), `Condition operator "ForAnyValue:Null" is not valid: Null takes no set operator.`},
		{"unknown set operator", Parse, withCond(`{"ForSomeValues:StringEquals":{"aws:TagKeys":"a"}}`), `Condition operator "ForSomeValues:StringEquals" is not valid.`},
		{"operator value not an object", Parse, withCond(`{"StringEquals":"kms:ViaService"}`), "The value of condition operator StringEquals must be an object of condition keys."},
		{"condition key without vendor", Parse, withCond(`{"StringEquals":{"ViaService":"x"}}`), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"condition key with bad vendor", Parse, withCond(`{"StringEquals":{"k ms:ViaService":"x"}}`), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"condition value null", Parse, withCond(`{"StringEquals":{"kms:ViaService":null}}`), "The value of condition key kms:ViaService must be a string, a number, a boolean or a non-empty array of them."},
		{"condition value empty list", Parse, withCond(`{"StringEquals":{"kms:ViaService":[]}}`), "The value of condition key kms:ViaService must be a string, a number, a boolean or a non-empty array of them."},
		{"condition value object", Parse, withCond(`{"StringEquals":{"kms:ViaService":{}}}`), "The value of condition key kms:ViaService must be a string, a number, a boolean or a non-empty array of them."},
		{"numeric value not a number", Parse, withCond(`{"NumericLessThan":{"kms:RotationPeriodInDays":"ten"}}`), `Condition NumericLessThan on kms:RotationPeriodInDays has an invalid value "ten": not a number`},
		{"numeric value NaN", Parse, withCond(`{"NumericEquals":{"kms:RotationPeriodInDays":"NaN"}}`), `Condition NumericEquals on kms:RotationPeriodInDays has an invalid value "NaN": not a number`},
		{"numeric value with variable", Parse, withCond(`{"NumericEquals":{"kms:RotationPeriodInDays":"${aws:PrincipalTag/days}"}}`), `Condition NumericEquals on kms:RotationPeriodInDays has an invalid value "${aws:PrincipalTag/days}": not a number`},
		{"date value not a date", Parse, withCond(`{"DateLessThan":{"aws:CurrentTime":"yesterday"}}`), `Condition DateLessThan on aws:CurrentTime has an invalid value "yesterday": not an ISO 8601 date or epoch seconds`},
		{"date value bad month", Parse, withCond(`{"DateGreaterThanIfExists":{"aws:CurrentTime":"2024-13-01"}}`), `Condition DateGreaterThanIfExists on aws:CurrentTime has an invalid value "2024-13-01": not an ISO 8601 date or epoch seconds`},
		{"ip value bad", Parse, withCond(`{"IpAddress":{"aws:SourceIp":"300.1.1.1"}}`), `Condition IpAddress on aws:SourceIp has an invalid value "300.1.1.1": not an IP address or CIDR block`},
		{"ip value bad prefix", Parse, withCond(`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/33"}}`), `Condition NotIpAddress on aws:SourceIp has an invalid value "10.0.0.0/33": not an IP address or CIDR block`},
		{"binary value not base64", Parse, withCond(`{"BinaryEquals":{"aws:PrincipalTag/b":"***"}}`), `Condition BinaryEquals on aws:PrincipalTag/b has an invalid value "***": not base64`},
		{"bool value not boolean", Parse, withCond(`{"Bool":{"aws:SecureTransport":"yes"}}`), `Condition Bool on aws:SecureTransport has an invalid value "yes": not true or false`},
		{"bool variable in a 2008 policy", Parse, doc2008(stmt(okStmt, cond(`{"Bool":{"aws:SecureTransport":"${aws:x}"}}`))), `Condition Bool on aws:SecureTransport has an invalid value "${aws:x}": not true or false`},
		{"null value not boolean", Parse, withCond(`{"Null":{"aws:SourceIp":"maybe"}}`), `Condition Null on aws:SourceIp has an invalid value "maybe": not true or false`},
		{"null value number", Parse, withCond(`{"Null":{"aws:SourceIp":1}}`), `Condition Null on aws:SourceIp has an invalid value "1": not true or false`},

		{"key policy without principal", ParseKeyPolicy, wrap(allow + "," + kmsAll + "," + anyRes), "Policy contains a statement with no principal."},
		{"key policy invalid principal", ParseKeyPolicy, wrap(allow + `,"Principal":{"AWS":"arn:aws:iam::111122223333:user/"},` + kmsAll + "," + anyRes), MsgInvalidPrincipals},
		{"key policy ForAllValues on encryption context", ParseKeyPolicy, withCond(`{"ForAllValues:StringEquals":{"kms:EncryptionContext:Department":"IT"}}`), msgOverlyPermissiveEC},
		{"key policy ForAllValues IfExists on encryption context", ParseKeyPolicy, withCond(`{"ForAllValues:StringLikeIfExists":{"KMS:EncryptionContext:dept":"I*"}}`), msgOverlyPermissiveEC},
		{"key policy ForAllValues on request tag", ParseKeyPolicy, withCond(`{"ForAllValues:StringEquals":{"aws:RequestTag/Owner":"alice"}}`), msgOverlyPermissiveTag},
		{"key policy unknown kms condition key", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:Bogus":"x"}}`), unknownKey("kms:Bogus")},
		{"key policy misspelled kms condition key", ParseKeyPolicy, withCond(`{"NumericLessThan":{"kms:ScheduleKeyDeletionPendingWindowDays":"30"}}`), unknownKey("kms:ScheduleKeyDeletionPendingWindowDays")},
		{"key policy misspelled global key", ParseKeyPolicy, withCond(`{"StringEquals":{"aws:PrincipleTag/team":"x"}}`), unknownKey("aws:PrincipleTag/team")},
		{"key policy other service's key", ParseKeyPolicy, withCond(`{"StringLike":{"s3:prefix":"home/"}}`), unknownKey("s3:prefix")},
		{"key policy encryption context without a key", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:EncryptionContext:":"x"}}`), unknownKey("kms:EncryptionContext:")},
		{"key policy attestation PCR out of range", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:RecipientAttestation:PCR32":"x"}}`), unknownKey("kms:RecipientAttestation:PCR32")},
		{"key policy unknown key in a Deny", ParseKeyPolicy, wrap(deny + "," + anyP + "," + kmsAll + "," + anyRes + "," + cond(`{"StringNotEqualsIfExists":{"kms:Bogus":"x"}}`)), unknownKey("kms:Bogus")},
		{"key policy aws:ResourceTag", ParseKeyPolicy, withCond(`{"StringEquals":{"aws:ResourceTag/Env":"prod"}}`), MsgKeyPolicyConditionKeys},
		{"key policy aws:ResourceTag in a Deny", ParseKeyPolicy, wrap(deny + "," + anyP + "," + kmsAll + "," + anyRes + "," + cond(`{"StringEquals":{"AWS:RESOURCETAG/Env":"prod"}}`)), MsgKeyPolicyConditionKeys},
		{"key policy kms:ResourceAliases", ParseKeyPolicy, withCond(`{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/prod-*"}}`), MsgKeyPolicyConditionKeys},
		{"key policy kms:ResourceTag", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:ResourceTag/Env":"prod"}}`), MsgKeyPolicyConditionKeys},
		{"key policy raw character beyond Latin-1", ParseKeyPolicy, wrap(okStmt + ",\"Sid\":\"\u20ac\""), badChar("20AC")},
		{"key policy escaped character beyond Latin-1", ParseKeyPolicy, wrap(okStmt + `,"Sid":"\u20ac"`), badChar("20AC")},
		{"key policy escaped surrogate pair", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:EncryptionContext:k":"\ud83d\udd11"}}`), badChar("1F511")},
		{"key policy escaped backspace", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:EncryptionContext:k":"a\bc"}}`), badChar("0008")},
		{"key policy escaped NUL in a member name", ParseKeyPolicy, withCond(`{"StringEquals":{"kms:EncryptionContext:k\u0000":"x"}}`), badChar("0000")},
		{"key policy raw control character", ParseKeyPolicy, wrap(okStmt + ",\"Sid\":\"a\x01\""), badChar("0001")},
		{"key policy invalid UTF-8", ParseKeyPolicy, wrap(okStmt + ",\"Sid\":\"\xff\""), badChar("FFFD")},
		{"key policy character check before JSON", ParseKeyPolicy, "{\u2028", badChar("2028")},
		{"identity policy with principal", ParseIdentityPolicy, wrap(okStmt), "Policy document should not specify a principal."},
		{"identity policy with NotPrincipal", ParseIdentityPolicy, wrap(deny + `,"NotPrincipal":{"AWS":"111122223333"},` + decrypt + "," + anyRes), "Policy document should not specify a principal."},
		{"identity policy without action", ParseIdentityPolicy, wrap(allow + "," + anyRes), "Policy statement must contain actions."},
		{"identity policy with empty action list", ParseIdentityPolicy, wrap(allow + `,"Action":[],` + anyRes), "Policy statement must contain actions."},
		{"identity policy without resource", ParseIdentityPolicy, wrap(allow + "," + decrypt), "Policy statement must contain resources."},
		{"identity policy with empty resource list", ParseIdentityPolicy, wrap(allow + "," + decrypt + `,"Resource":[]`), "Policy statement must contain resources."},
		{"trust policy without principal", ParseTrustPolicy, wrap(allow + `,"Action":"sts:AssumeRole"`), "Missing required field Principal"},
		{"trust policy with resource", ParseTrustPolicy, wrap(allow + `,"Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole",` + anyRes), "Has prohibited field Resource"},
		{"trust policy without action", ParseTrustPolicy, wrap(allow + `,"Principal":{"Service":"ec2.amazonaws.com"}`), "Policy statement must contain actions."},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("duplicate case %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.parse(tc.doc)
			if err == nil {
				t.Fatalf("parsed %d statements, want error %q\n%s", p.Len(), tc.want, tc.doc)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not a *MalformedError", err, err)
			}
			if me.Message != tc.want {
				t.Fatalf("message\n got: %s\nwant: %s", me.Message, tc.want)
			}
		})
	}
}

func TestKeyPolicySizeLimit(t *testing.T) {
	base := defaultKP
	pad := MaxKeyPolicySize - len(base)
	// Whitespace inside the document counts: AWS measures the bytes sent.
	atLimit := base[:len(base)-1] + strings.Repeat(" ", pad) + "}"
	if len(atLimit) != MaxKeyPolicySize {
		t.Fatalf("test document is %d bytes", len(atLimit))
	}
	if _, err := ParseKeyPolicy(atLimit); err != nil {
		t.Fatalf("a %d-byte policy: %v", len(atLimit), err)
	}
	over := atLimit[:len(atLimit)-1] + " }"
	_, err := ParseKeyPolicy(over)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("a %d-byte policy: err = %v, want *LimitError", len(over), err)
	}
	if le.Size != MaxKeyPolicySize+1 || le.Limit != MaxKeyPolicySize {
		t.Fatalf("LimitError = %+v", le)
	}
	if want := "The key policy is 32769 bytes, more than the 32768-byte limit."; le.Error() != want {
		t.Fatalf("message %q, want %q", le.Error(), want)
	}
	var me *MalformedError
	if errors.As(err, &me) {
		t.Fatal("a size error must not be a MalformedError: AWS answers LimitExceededException")
	}
	if err := CheckKeyPolicySize(atLimit); err != nil {
		t.Fatal(err)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) (*Policy, error)
		doc   string
	}{
		{"default key policy", ParseKeyPolicy, defaultKP},
		{"statement as an object", ParseKeyPolicy, `{"Version":"2012-10-17","Statement":{` + allow + "," + rootAP + "," + kmsAll + "," + anyRes + `}}`},
		{"no version", ParseKeyPolicy, `{"Statement":[{` + allow + "," + rootAP + "," + kmsAll + "," + anyRes + `}]}`},
		{"version 2008", ParseKeyPolicy, doc2008(stmt(allow, rootAP, kmsAll, anyRes))},
		{"sid with spaces, repeated empty sids", ParseKeyPolicy, doc(stmt(sid("Allow use of the key"), allow, rootAP, kmsAll, anyRes), stmt(sid(""), allow, rootAP, kmsAll, anyRes), stmt(sid(""), allow, rootAP, kmsAll, anyRes))},
		{"principal list of every AWS form", ParseKeyPolicy, doc(stmt(allow, awsP("111122223333", rootBARN, aliceARN, roleARN, "arn:aws:iam::111122223333:role/service-role/ops/Deploy", sessARN, fedARN, "*"), kmsAll, anyRes))},
		{"other partition", ParseKeyPolicy, doc(stmt(allow, awsP("arn:aws-cn:iam::111122223333:root", "arn:aws-us-gov:iam::111122223333:user/x"), kmsAll, anyRes))},
		{"service principals", ParseKeyPolicy, doc(stmt(allow, svcP("ec2.amazonaws.com", "logs.us-east-1.amazonaws.com"), kmsAll, anyRes))},
		{"federated principals", ParseTrustPolicy, doc(stmt(allow, `"Principal":{"Federated":["cognito-identity.amazonaws.com","arn:aws:iam::111122223333:saml-provider/corp","arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"]}`, act("sts:AssumeRoleWithWebIdentity")))},
		{"mixed principal types", ParseKeyPolicy, doc(stmt(allow, `"Principal":{"AWS":"111122223333","Service":"ec2.amazonaws.com"}`, kmsAll, anyRes))},
		{"NotPrincipal with Deny", ParseKeyPolicy, doc(stmt(deny, notAWS(rootAARN, aliceARN), kmsAll, anyRes))},
		{"key policy statement without Action or Resource", ParseKeyPolicy, doc(stmt(allow, rootAP))},
		{"condition values of every JSON scalar", ParseKeyPolicy, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"Bool":{"kms:GrantIsForAWSResource":true},"NumericLessThan":{"kms:RotationPeriodInDays":[100,"200.5"]},"Null":{"kms:ViaService":false}}`)))},
		{"every operator", Parse, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{
			"StringEquals":{"a:b":"x"},"StringNotEquals":{"a:b":"x"},"StringEqualsIgnoreCase":{"a:b":"x"},"StringNotEqualsIgnoreCase":{"a:b":"x"},
			"StringLike":{"a:b":"x*"},"StringNotLike":{"a:b":"x?"},"NumericEquals":{"a:b":"1"},"NumericNotEquals":{"a:b":"1"},
			"NumericLessThan":{"a:b":"1"},"NumericLessThanEquals":{"a:b":"1"},"NumericGreaterThan":{"a:b":"1"},"NumericGreaterThanEquals":{"a:b":"-1.5"},
			"DateEquals":{"a:b":"2024-01-01"},"DateNotEquals":{"a:b":"1700000000"},"DateLessThan":{"a:b":"2024-01-01T00:00:00Z"},
			"DateLessThanEquals":{"a:b":"2024-01-01T00:00:00.5+01:00"},"DateGreaterThan":{"a:b":"2024-01-01T10:00"},"DateGreaterThanEquals":{"a:b":"20240101T000000Z"},
			"Bool":{"a:b":"false"},"BinaryEquals":{"a:b":"QmluYXJ5"},"IpAddress":{"a:b":"10.0.0.0/8"},"NotIpAddress":{"a:b":"2001:db8::/32"},
			"ArnEquals":{"a:b":"arn:aws:s3:::b"},"ArnLike":{"a:b":"arn:aws:s3:::*"},"ArnNotEquals":{"a:b":"arn:aws:s3:::b"},"ArnNotLike":{"a:b":"arn:*"},
			"Null":{"a:b":"true"},"StringEqualsIfExists":{"a:b":"x"},"ForAnyValue:StringLike":{"a:b":"x"},"ForAllValues:ArnLikeIfExists":{"a:b":"arn:aws:s3:::*"}}`)))},
		{"large condition object", Parse, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"StringEquals":{`+manyKeys(40)+`}}`)))},
		{"many unterminated variables", Parse, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"StringEquals":{"a:b":"`+strings.Repeat("${", 5000)+`"}}`)))},
		{"ForAllValues on a multi-valued kms key", ParseKeyPolicy, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["a"]}}`)))},
		{"Latin-1 and whitespace in a key policy", ParseKeyPolicy, "{\"Version\":\"2012-10-17\",\r\n\t\"Statement\":[" + stmt(sid("Cl\u00e9 \\u00e9t\u00e9 \u00ff"), allow, rootAP, kmsAll, anyRes) + "]}"},
		{"deprecated kms key names", ParseKeyPolicy, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"StringEquals":{"kms:CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","KMS:CustomerMasterKeyUsage":"ENCRYPT_DECRYPT"}}`)))},
		{"attestation keys", ParseKeyPolicy, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"StringEqualsIgnoreCase":{"kms:RecipientAttestation:ImageSha384":"ab","kms:RecipientAttestation:PCR0":"ab","kms:RecipientAttestation:PCR31":"ab","kms:RecipientAttestation:NitroTPMPCR23":"ab"}}`)))},
		{"global keys of sessions, networks and organizations", ParseKeyPolicy, doc(stmt(allow, rootAP, kmsAll, anyRes, cond(`{"StringEquals":{"aws:PrincipalOrgID":"o-1","aws:SourceVpce":"vpce-1","aws:VpceOrgPaths":"o-1/*","ec2:SourceInstanceArn":"arn:aws:ec2:us-east-1:111122223333:instance/i-1","aws:CalledViaFirst":"cloudformation.amazonaws.com","aws:PrincipalTag/team":"a","aws:RequestTag/team":"a"}}`)))},
		{"identity policy with IAM-only keys", ParseIdentityPolicy, doc(stmt(allow, kmsAll, anyRes, cond(`{"StringEquals":{"aws:ResourceTag/Env":"prod"},"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/prod-*"}}`)))},
		{"identity policy with another service's keys", ParseIdentityPolicy, doc(stmt(allow, act("s3:GetObject"), res("arn:aws:s3:::b/*"), cond(`{"StringLike":{"s3:prefix":"home/"},"StringEquals":{"kms:Bogus":"x"}}`)))},
		{"identity policy with a character beyond Latin-1", ParseIdentityPolicy, doc(stmt(sid("\\u20ac"), allow, kmsAll, anyRes))},
		{"identity policy", ParseIdentityPolicy, idAllowOn(keyARN, "kms:Decrypt")},
		{"identity policy with variables", ParseIdentityPolicy, idAllowOn("arn:aws:kms:*:${aws:PrincipalAccount}:key/*", "kms:*")},
		{"trust policy", ParseTrustPolicy, doc(stmt(allow, `"Principal":{"AWS":"arn:aws:iam::444455556666:root"}`, act("sts:AssumeRole"), cond(`{"StringEquals":{"sts:ExternalId":"x"}}`)))},
		{"any kind with ForAllValues on encryption context", Parse, doc(stmt(allow, kmsAll, anyRes, cond(`{"ForAllValues:StringEquals":{"kms:EncryptionContext:a":"b"}}`)))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.parse(tc.doc); err != nil {
				t.Fatalf("%v\n%s", err, tc.doc)
			}
		})
	}
}

func TestPrincipals(t *testing.T) {
	p := mustParse(t, doc(
		stmt(allow, awsP("111122223333", aliceARN, "*"), kmsAll, anyRes),
		stmt(allow, svcP(ec2Svc), kmsAll, anyRes),
		stmt(deny, notAWS(rootAARN, roleARN), kmsAll, anyRes),
	))
	got := p.Principals()
	want := []string{rootAARN, aliceARN, ec2Svc, roleARN}
	if !slices.Equal(got, want) {
		t.Fatalf("Principals() = %q, want %q", got, want)
	}
	if p.Len() != 3 || p.Version != Version2012 {
		t.Fatalf("Len %d Version %q", p.Len(), p.Version)
	}
}

// manyKeys returns n distinct condition keys a:k0… as JSON members.
func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"a:k` + strconv.Itoa(i) + `":"v"`
	}
	return strings.Join(parts, ",")
}
