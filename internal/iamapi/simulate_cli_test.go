package iamapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSimulatePrincipalPolicyWithTheCLI runs `aws iam
// simulate-principal-policy` against the server and reads its JSON.
func TestSimulatePrincipalPolicyWithTheCLI(t *testing.T) {
	s := startEnforced(t)
	script := `
E="--endpoint-url http://127.0.0.1:8080"
aws $E iam create-role --role-name App --query Role.Arn --output text \
  --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}' >/dev/null
cat > key-policy.json <<'POLICY'
` + simKeyPolicy + `
POLICY
KEY=$(aws $E kms create-key --policy file://key-policy.json --query KeyMetadata.Arn --output text)
aws $E iam simulate-principal-policy --policy-source-arn arn:aws:iam::111122223333:role/App \
  --action-names kms:Decrypt kms:ScheduleKeyDeletion --resource-arns "$KEY" \
  --context-entries ContextKeyName=kms:EncryptionContext:tenant,ContextKeyValues=acme,ContextKeyType=string
`
	out, err := s.runCLI(script)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var got struct {
		EvaluationResults []struct {
			EvalActionName, EvalResourceName, EvalDecision string
			MatchedStatements                              []struct {
				SourcePolicyID             string `json:"SourcePolicyId"`
				SourcePolicyType           string
				StartPosition, EndPosition struct{ Line, Column int }
			}
			MissingContextValues    []string
			EvalDecisionDetails     map[string]string
			ResourceSpecificResults []struct {
				EvalResourceName, EvalResourceDecision string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.EvaluationResults) != 2 {
		t.Fatalf("%d results:\n%s", len(got.EvaluationResults), out)
	}
	for i, want := range []struct{ action, decision, sid string }{
		{"kms:Decrypt", "allowed", `"Sid": "KeyUsers"`}, {"kms:ScheduleKeyDeletion", "explicitDeny", `"Sid": "AppNeverDeletes"`},
	} {
		r := got.EvaluationResults[i]
		pos := stmtAt(t, simKeyPolicy, want.sid)
		if r.EvalActionName != want.action || r.EvalDecision != want.decision || !strings.HasPrefix(r.EvalResourceName, "arn:aws:kms:us-east-1:111122223333:key/") ||
			len(r.MatchedStatements) != 1 || r.MatchedStatements[0].SourcePolicyID != "default" || r.MatchedStatements[0].SourcePolicyType != "resource" ||
			r.MatchedStatements[0].StartPosition.Line != int(pos.Line) || r.MatchedStatements[0].StartPosition.Column != int(pos.Column) ||
			r.MissingContextValues == nil || r.EvalDecisionDetails == nil ||
			len(r.ResourceSpecificResults) != 1 || r.ResourceSpecificResults[0].EvalResourceDecision != want.decision {
			t.Errorf("result %d:\n%+v\nwant %s %s from the statement at %+v", i, r, want.action, want.decision, pos)
		}
	}

	out, err = s.runCLI(`aws --endpoint-url http://127.0.0.1:8080 iam simulate-principal-policy --policy-source-arn arn:aws:iam::111122223333:user/nobody --action-names kms:Decrypt`)
	if want := "An error occurred (NoSuchEntity) when calling the SimulatePrincipalPolicy operation: The user with name nobody cannot be found."; err == nil || !strings.Contains(out, want) {
		t.Errorf("%v\n%s\nwant %q", err, out, want)
	}
}
