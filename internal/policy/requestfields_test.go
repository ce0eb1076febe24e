package policy

import (
	"fmt"
	"testing"
)

// TestRequestFieldsMatchContext checks that a request's keys given as
// fields (SourceIP, EncryptionContext, Operation…) decide exactly as the
// same keys written into Context do, for each condition below.
func TestRequestFieldsMatchContext(t *testing.T) {
	ec := map[string]string{"Dept": "eng", "dept": "ops", "Project": "x", "Ünit": "u"}
	ops := Context{"kms:encryptionalgorithm": {"SYMMETRIC_DEFAULT"}, "aws:sourceip": {}}
	base := func() *Request {
		return &Request{Principal: "arn:aws:iam::111122223333:user/alice", Account: "111122223333", Type: User,
			Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/k",
			ResourceContext: Context{"kms:keyspec": {"SYMMETRIC_DEFAULT"}, "aws:sourceip": {"10.9.9.9"}}}
	}
	fields := base()
	fields.SourceIP, fields.SecureTransport, fields.RequestedRegion, fields.RequestAlias = "192.0.2.7", "true", "us-east-1", "alias/a"
	fields.EncryptionContext, fields.Operation = ec, ops
	withMap := base()
	withMap.Context = Context{"aws:sourceip": {"192.0.2.7"}, "aws:securetransport": {"true"},
		"aws:requestedregion": {"us-east-1"}, "kms:requestalias": {"alias/a"}}
	withMap.Context.SetEncryptionContext(ec)
	for k, v := range ops {
		withMap.Context[k] = v
	}
	noEC := base()
	noEC.SecureTransport = "false"

	// Each condition holds for the request; the ones marked also need a
	// key only the request's fields (not ResourceContext) give.
	conds := []struct {
		cond     string
		needsReq bool
	}{
		{`"StringEquals":{"kms:EncryptionContext:dept":"eng"}`, true},
		{`"ForAllValues:StringEquals":{"kms:EncryptionContext:dept":["eng","ops"]}`, false},
		{`"ForAnyValue:StringEquals":{"kms:EncryptionContext:DEPT":"ops"}`, true},
		{`"StringEquals":{"kms:EncryptionContext:project":"x"}`, true},
		{`"StringEquals":{"kms:EncryptionContext:ünit":"u"}`, true},
		{`"Null":{"kms:EncryptionContext:missing":"true"}`, false},
		{`"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"Project"}`, true},
		{`"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Dept","dept","Project","Ünit"]}`, false},
		{`"Null":{"kms:EncryptionContextKeys":"false"}`, true},
		// Operation's empty aws:SourceIp hides the field, leaving
		// ResourceContext's value.
		{`"IpAddress":{"aws:SourceIp":"10.9.9.0/24"}`, false},
		{`"Bool":{"aws:SecureTransport":"true"}`, true},
		{`"StringEquals":{"aws:RequestedRegion":"us-east-1"}`, true},
		{`"StringLike":{"kms:RequestAlias":"alias/*"}`, true},
		{`"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`, true},
		{`"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}`, false},
	}
	for _, tc := range conds {
		c := tc.cond
		p, err := Parse(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{%s}}]}`, c))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		got, want := p.Evaluate(fields).Outcome, p.Evaluate(withMap).Outcome
		if got != want {
			t.Errorf("%s: fields give %v, Context gives %v", c, got, want)
		}
		if got != Allowed {
			t.Errorf("%s: %v, want Allowed", c, got)
		}
		if tc.needsReq && p.Evaluate(noEC).Outcome == Allowed {
			t.Errorf("%s: allowed without the request's keys", c)
		}
	}
}
