package policy

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary documents to every parser. None may panic,
// every error must be one a caller can map to an AWS exception, and a
// policy that parses must evaluate against any request without panicking.
func FuzzParse(f *testing.F) {
	seeds := []string{
		defaultKP,
		benchKeyPolicy,
		idAllowOn("arn:aws:kms:*:${aws:PrincipalAccount}:key/*", "kms:*"),
		doc(stmt(deny, notAWS(rootAARN, roleARN, sessARN), notAct("kms:Describe*"), notRes(otherKey))),
		doc(stmt(allow, `"Principal":{"Federated":"arn:aws:iam::111122223333:saml-provider/corp"}`, act("sts:AssumeRoleWithSAML"))),
		doc(stmt(allow, svcP(ec2Svc), kmsAll, anyRes, cond(`{"ForAnyValue:StringLike":{"aws:TagKeys":"a?${*}*"},"NumericLessThanIfExists":{"a:b":1e3},"IpAddress":{"aws:SourceIp":["::1/128","10.0.0.0/8"]}}`))),
		doc2008(stmt(allow, anyP, kmsAll, res("arn:aws:s3:::b/${aws:username}/*"), cond(`{"Null":{"a:b":true},"DateLessThan":{"aws:CurrentTime":"1700000000"}}`))),
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:kms:*","Condition":{"ArnLike":{"aws:SourceArn":"arn:${aws:x, 'y'}:*:*:*:*"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringLike":{"a:b":"${"},"StringEquals":{"a:c":"${}"},"BinaryEquals":{"a:d":"QQ=="}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotPrincipal":"*","NotAction":[],"NotResource":[]}]}`,
		`not json`, `[]`, `{}`, `{"Statement":[]}`, `{"Statement":[null]}`, `{"Version":"2012-10-17","Version":1}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	reqs := []Request{alice, sess, rootB, ec2, nobody}
	for i := range reqs {
		reqs[i].Action, reqs[i].Resource, reqs[i].Time = "kms:Decrypt", keyARN, reqTime
		reqs[i].Context = mergeCtx(ec("dept", "IT"), ctx("aws:SourceIp", "10.0.0.1", "aws:TagKeys", "a", "aws:TagKeys", "b", "a:b", "7", "aws:SourceArn", keyARN))
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, parse := range []func(string) (*Policy, error){Parse, ParseKeyPolicy, ParseIdentityPolicy, ParseTrustPolicy} {
			p, err := parse(doc)
			if err != nil {
				var me *MalformedError
				var le *LimitError
				if !errors.As(err, &me) && !errors.As(err, &le) {
					t.Fatalf("error %T %v is neither a MalformedError nor a LimitError", err, err)
				}
				if p != nil {
					t.Fatal("a policy returned with an error")
				}
				continue
			}
			for i := range reqs {
				r := reqs[i]
				res := p.Evaluate(&r)
				if res.Outcome != NotApplicable && (res.Statement < 0 || res.Statement >= p.Len()) {
					t.Fatalf("result names statement %d of %d", res.Statement, p.Len())
				}
				_ = Decide(&r, p, []*Policy{p}, false)
			}
			_ = p.Principals()
		}
	})
}
