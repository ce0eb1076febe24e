package managed

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/policy"
)

const (
	acct   = "111122223333"
	region = "us-east-2"
)

func TestCatalogue(t *testing.T) {
	names := Aliases()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatalf("aliases not sorted and unique: %v", names)
	}
	for _, want := range []string{"alias/aws/acm", "alias/aws/dynamodb", "alias/aws/ebs", "alias/aws/elasticfilesystem", "alias/aws/es", "alias/aws/glue", "alias/aws/kinesisvideo", "alias/aws/lambda", "alias/aws/rds", "alias/aws/redshift", "alias/aws/s3", "alias/aws/secretsmanager", "alias/aws/ssm", "alias/aws/xray"} {
		s, ok := Lookup(want)
		if !ok || s.Alias != want {
			t.Errorf("Lookup(%s) = %+v, %v", want, s, ok)
		}
	}
	for _, name := range []string{"alias/aws/", "alias/aws/s3x", "alias/aws/S3", "alias/s3", "aws/s3", "alias/aws/s", ""} {
		if s, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want no service", name, s)
		}
	}
	s3, _ := Lookup("alias/aws/s3")
	if got := s3.Description(); got != "Default key that protects my S3 objects when no other key is defined" {
		t.Errorf("description %q", got)
	}
	ebs, _ := Lookup("alias/aws/ebs")
	if got := ebs.ViaService("eu-west-1"); got != "ec2.eu-west-1.amazonaws.com" {
		t.Errorf("aws/ebs kms:ViaService %q", got)
	}
	if got := ebs.ViaService("cn-north-1"); got != "ec2.cn-north-1.amazonaws.com.cn" {
		t.Errorf("aws/ebs kms:ViaService in China %q", got)
	}
}

// TestPolicyTemplate checks the rendered policy against AWS's documented
// aws/elasticfilesystem policy, statement by statement.
func TestPolicyTemplate(t *testing.T) {
	efs, _ := Lookup("alias/aws/elasticfilesystem")
	var got, want any
	if err := json.Unmarshal([]byte(efs.Policy(acct, region)), &got); err != nil {
		t.Fatalf("policy is not JSON: %v", err)
	}
	documented := `{
	  "Version": "2012-10-17",
	  "Id": "auto-elasticfilesystem-1",
	  "Statement": [
	    {
	      "Sid": "Allow access to EFS for all principals in the account that are authorized to use EFS",
	      "Effect": "Allow",
	      "Principal": {"AWS": "*"},
	      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
	      "Resource": "*",
	      "Condition": {"StringEquals": {"kms:ViaService": "elasticfilesystem.us-east-2.amazonaws.com", "kms:CallerAccount": "111122223333"}}
	    },
	    {
	      "Sid": "Allow direct access to key metadata to the account",
	      "Effect": "Allow",
	      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
	      "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
	      "Resource": "*"
	    }
	  ]
	}`
	if err := json.Unmarshal([]byte(documented), &want); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("aws/elasticfilesystem policy\n got %s\nwant %s", gb, wb)
	}
	s3, _ := Lookup("alias/aws/s3")
	if p := s3.Policy(acct, region); strings.Contains(p, "Grant") {
		t.Errorf("aws/s3 policy allows grants:\n%s", p)
	}
	if p := s3.Policy(acct, "us-gov-west-1"); !strings.Contains(p, `"arn:aws-us-gov:iam::111122223333:root"`) {
		t.Errorf("GovCloud policy names the wrong partition:\n%s", p)
	}
}

// TestAllowsIsThePolicy decides every KMS action under each service's
// policy with kmsd's policy engine, for the account root calling through
// the service, and checks that Allows answers the same: the guard kms
// applies on these keys is the policy itself, not a second opinion.
func TestAllowsIsThePolicy(t *testing.T) {
	for _, name := range Aliases() {
		s, _ := Lookup(name)
		p, err := policy.ParseKeyPolicy(s.Policy(acct, region))
		if err != nil {
			t.Fatalf("%s: AWS's policy does not parse: %v", name, err)
		}
		allowed := 0
		for _, op := range kmsapi.Operations {
			action := "kms:" + op
			r := &policy.Request{
				Principal: "arn:aws:iam::" + acct + ":root", Account: acct, Type: policy.Root, UserID: acct,
				Action: action, Resource: "arn:aws:kms:" + region + ":" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
				Context: policy.Context{"kms:viaservice": {s.ViaService(region)}},
			}
			d := policy.Decide(r, p, nil, false)
			if d.Allowed != s.Allows(action) {
				t.Errorf("%s %s: policy decides %v, Allows says %v", name, action, d.Allowed, s.Allows(action))
			}
			if d.Allowed {
				allowed++
			}
		}
		if allowed == 0 {
			t.Errorf("%s: the policy allows nothing", name)
		}
		for _, action := range []string{"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:RotateKeyOnDemand", "kms:TagResource", "kms:UntagResource", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:UpdateKeyDescription"} {
			if s.Allows(action) {
				t.Errorf("%s allows %s", name, action)
			}
		}
		for _, action := range []string{"kms:Encrypt", "kms:decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"} {
			if !s.Allows(action) {
				t.Errorf("%s refuses %s", name, action)
			}
		}
		if s.Allows("kms:CreateGrant") != s.Grants || s.Allows("kms:RevokeGrant") != s.Grants {
			t.Errorf("%s: grant permissions do not follow Grants=%v", name, s.Grants)
		}
	}
}

// TestPolicyConfinesUseToTheAccount evaluates the documented conditions:
// a principal of the account may use the key through the service, one
// of another account may not, and neither may without kms:ViaService.
func TestPolicyConfinesUseToTheAccount(t *testing.T) {
	s, _ := Lookup("alias/aws/ebs")
	p, err := policy.ParseKeyPolicy(s.Policy(acct, region))
	if err != nil {
		t.Fatal(err)
	}
	key := "arn:aws:kms:" + region + ":" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cases := []struct {
		name, principal, account, via string
		want                          bool
	}{
		{"user of the account through EC2", "arn:aws:iam::" + acct + ":user/alice", acct, "ec2." + region + ".amazonaws.com", true},
		{"user of the account, directly", "arn:aws:iam::" + acct + ":user/alice", acct, "", false},
		{"user of the account through S3", "arn:aws:iam::" + acct + ":user/alice", acct, "s3." + region + ".amazonaws.com", false},
		{"user of another account through EC2", "arn:aws:iam::444455556666:user/bob", "444455556666", "ec2." + region + ".amazonaws.com", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &policy.Request{Principal: tc.principal, Account: tc.account, Type: policy.User, UserID: "AIDAEXAMPLE", Action: "kms:Encrypt", Resource: key, Context: policy.Context{}}
			if tc.via != "" {
				r.Context["kms:viaservice"] = []string{tc.via}
			}
			if d := policy.Decide(r, p, nil, false); d.Allowed != tc.want {
				t.Errorf("allowed %v, want %v (%s)", d.Allowed, tc.want, d)
			}
		})
	}
}
