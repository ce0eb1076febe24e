package policy

import "testing"

// benchKeyPolicy is the shape of a production key policy: root
// delegation, key administrators, key users limited by encryption context
// and calling service, grants only for AWS resources, and a TLS-only Deny.
const benchKeyPolicy = `{
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow access for Key Administrators",
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KeyAdmin", "arn:aws:iam::111122223333:user/security"]},
      "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                 "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                 "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
      "Resource": "*"
    },
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/Payments"},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*",
      "Condition": {
        "StringEquals": {"kms:EncryptionContext:app": "payments", "kms:CallerAccount": "111122223333"},
        "StringLike": {"kms:ViaService": ["rds.*.amazonaws.com", "s3.*.amazonaws.com"]}
      }
    },
    {
      "Sid": "Allow attachment of persistent resources",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/Payments"},
      "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
      "Resource": "*",
      "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    },
    {
      "Sid": "Deny without TLS or outside the network",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "kms:*",
      "Resource": "*",
      "Condition": {
        "Bool": {"aws:SecureTransport": "false"},
        "NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}
      }
    }
  ]
}`

func benchRequest() *Request {
	c := Context{}
	c.SetEncryptionContext(map[string]string{"app": "payments", "tenant": "t-42"})
	c.Set("kms:ViaService", "rds.us-east-1.amazonaws.com")
	c.Set("aws:SecureTransport", "true")
	c.Set("aws:SourceIp", "10.20.30.40")
	return &Request{
		Principal: "arn:aws:sts::111122223333:assumed-role/Payments/i-0abc",
		Account:   acctA,
		Type:      AssumedRole,
		RoleARN:   "arn:aws:iam::111122223333:role/Payments",
		UserID:    "AROAPAYMENTS:i-0abc",
		Action:    "kms:Decrypt",
		Resource:  keyARN,
		Time:      reqTime,
		Context:   c,
	}
}

func BenchmarkEvaluateKeyPolicy(b *testing.B) {
	p, err := ParseKeyPolicy(benchKeyPolicy)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest()
	if res := p.Evaluate(r); res.Outcome != Allowed || res.Sid != "Allow use of the key" {
		b.Fatalf("unexpected result %v", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(r)
	}
}

func BenchmarkDecide(b *testing.B) {
	p, err := ParseKeyPolicy(benchKeyPolicy)
	if err != nil {
		b.Fatal(err)
	}
	id, err := ParseIdentityPolicy(doc(
		stmt(allow, act("kms:Decrypt", "kms:GenerateDataKey*"), res("arn:aws:kms:us-east-1:111122223333:key/*")),
		stmt(deny, act("kms:ScheduleKeyDeletion"), anyRes),
	))
	if err != nil {
		b.Fatal(err)
	}
	r := benchRequest()
	r.Principal, r.RoleARN, r.UserID = "arn:aws:sts::111122223333:assumed-role/Other/s", "", "AROAOTHER:s"
	ids := []*Policy{id}
	if d := Decide(r, p, ids, false); d.Reason != IdentityPolicyAllows {
		b.Fatalf("unexpected decision %v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(r, p, ids, false)
	}
}

func BenchmarkParseKeyPolicy(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKeyPolicy(benchKeyPolicy); err != nil {
			b.Fatal(err)
		}
	}
}
