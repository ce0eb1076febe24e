package managed

import (
	"encoding/json"
	"strings"
)

// useActions are what the key policy lets the account's principals do
// through the service, and readActions what it lets the account do
// directly; the service's grant permissions come on top when it has them.
var (
	useActions  = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
	readActions = []string{"kms:Describe*", "kms:Get*", "kms:List*"}
)

func (s Service) actions() (use, read []string) {
	use = append([]string(nil), useActions...)
	read = append([]string(nil), readActions...)
	if s.Grants {
		use = append(use, "kms:CreateGrant")
		read = append(read, "kms:RevokeGrant")
	}
	return append(use, "kms:DescribeKey"), read
}

// Policy is the key policy of the service's AWS managed key in account and
// region, in AWS's template (Amazon EFS User Guide, "AWS managed key for
// Amazon EFS KMS policy") and in the layout GetKeyPolicy returns it: any
// principal of the account may use the key through the service
// (kms:CallerAccount, kms:ViaService), and the account may read the key's
// metadata directly. No statement lets anyone change the key.
func (s Service) Policy(account, region string) string {
	use, read := s.actions()
	var b strings.Builder
	b.WriteString("{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : " + quote(s.PolicyID) + ",\n  \"Statement\" : [ {\n")
	b.WriteString("    \"Sid\" : " + quote(s.Sid) + ",\n")
	b.WriteString("    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"*\"\n    },\n")
	b.WriteString("    \"Action\" : " + list(use) + ",\n    \"Resource\" : \"*\",\n")
	b.WriteString("    \"Condition\" : {\n      \"StringEquals\" : {\n")
	b.WriteString("        \"kms:CallerAccount\" : " + quote(account) + ",\n")
	b.WriteString("        \"kms:ViaService\" : " + quote(s.ViaService(region)) + "\n      }\n    }\n  }, {\n")
	b.WriteString("    \"Sid\" : \"Allow direct access to key metadata to the account\",\n")
	b.WriteString("    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : " + quote("arn:"+partition(region)+":iam::"+account+":root") + "\n    },\n")
	b.WriteString("    \"Action\" : " + list(read) + ",\n    \"Resource\" : \"*\"\n  } ]\n}")
	return b.String()
}

// Allows reports whether the key policy names action for anyone. An
// action it names for no one — PutKeyPolicy, ScheduleKeyDeletion,
// DisableKey, TagResource, EnableKeyRotation, CreateAlias… — is refused
// on an AWS managed key whoever asks, which is how AWS keeps these keys
// unchangeable.
func (s Service) Allows(action string) bool {
	use, read := s.actions()
	for _, p := range append(use, read...) {
		if matchAction(p, action) {
			return true
		}
	}
	return false
}

// matchAction matches an action against a pattern with an optional
// trailing wildcard, ignoring case, as IAM compares actions.
func matchAction(pattern, action string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return len(action) >= len(prefix) && strings.EqualFold(action[:len(prefix)], prefix)
	}
	return strings.EqualFold(pattern, action)
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

func list(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = quote(it)
	}
	return "[ " + strings.Join(q, ", ") + " ]"
}

// partition is the ARN partition of region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
