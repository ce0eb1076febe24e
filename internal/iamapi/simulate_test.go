package iamapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const simKeyPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
     "Action": "kms:*", "Resource": "*"},
    {"Sid": "KeyUsers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/App"},
     "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}},
    {"Sid": "AppNeverDeletes", "Effect": "Deny", "Principal": {"AWS": "*"},
     "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
     "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/App"}}},
    {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
     "Action": "kms:Encrypt", "Resource": "*"}
  ]
}`

const (
	bobUse = `{"Version":"2012-10-17","Statement":[{"Sid":"Use","Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`
	// bobOffice refuses Decrypt from outside 192.0.2.0/24; tests run on
	// loopback, so a real Decrypt by bob is refused.
	bobOffice = `{"Version":"2012-10-17","Statement":[
 {"Sid":"OfficeOnly","Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}`
)

// simWorld is an account with a role, two users, a key and a grant, and
// the credentials to act as each for real.
type simWorld struct {
	s                *server
	key, alias       string
	app, bob, carol  creds
	grantID          string
	appARN, sessARN  string
	bobARN, carolARN string
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	s := startEnforced(t)
	w := &simWorld{s: s, appARN: "arn:aws:iam::" + account + ":role/App", bobARN: "arn:aws:iam::" + account + ":user/bob",
		carolARN: "arn:aws:iam::" + account + ":user/carol", sessARN: "arn:aws:sts::" + account + ":assumed-role/App/worker"}
	rootIAM := s.iam(root)
	ops := s.createUserWithKey("ops")
	put := func(user, name, doc string) {
		if _, err := rootIAM.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatalf("PutUserPolicy %s: %v", name, err)
		}
	}
	put("ops", "assume", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	if _, err := rootIAM.CreateRole(bg, &iam.CreateRoleInput{RoleName: aws.String("App"), AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::" + account + ":user/ops"))}); err != nil {
		t.Fatal(err)
	}
	as, err := s.sts(ops).AssumeRole(bg, &sts.AssumeRoleInput{RoleArn: aws.String(w.appARN), RoleSessionName: aws.String("worker")})
	if err != nil {
		t.Fatal(err)
	}
	w.app = creds{*as.Credentials.AccessKeyId, *as.Credentials.SecretAccessKey, *as.Credentials.SessionToken}
	w.bob = s.createUserWithKey("bob")
	put("bob", "use", bobUse)
	put("bob", "office", bobOffice)
	w.carol = s.createUserWithKey("carol")
	w.key = s.newKey(simKeyPolicy)
	k := s.kms(root)
	if _, err := k.CreateAlias(bg, &kms.CreateAliasInput{AliasName: aws.String("alias/shared"), TargetKeyId: aws.String(w.key)}); err != nil {
		t.Fatal(err)
	}
	w.alias = "arn:aws:kms:us-east-1:" + account + ":alias/shared"
	g, err := k.CreateGrant(bg, &kms.CreateGrantInput{KeyId: aws.String(w.key), GranteePrincipal: aws.String(w.carolARN),
		Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt}, Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"project": "apollo"}}})
	if err != nil {
		t.Fatal(err)
	}
	w.grantID = *g.GrantId
	return w
}

// realCall makes the request a simulation stands for, and reports whether
// KMS allowed it.
func (w *simWorld) realCall(t *testing.T, c creds, action string, ec map[string]string) bool {
	t.Helper()
	k := w.s.kms(c)
	var err error
	switch action {
	case "kms:Encrypt":
		_, err = k.Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(w.key), Plaintext: []byte("x"), EncryptionContext: ec})
	case "kms:Decrypt":
		enc, eerr := w.s.kms(root).Encrypt(bg, &kms.EncryptInput{KeyId: aws.String(w.key), Plaintext: []byte("x"), EncryptionContext: ec})
		if eerr != nil {
			t.Fatal(eerr)
		}
		_, err = k.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	case "kms:ScheduleKeyDeletion": // only ever asked where it is refused
		_, err = k.ScheduleKeyDeletion(bg, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(w.key)})
	default:
		t.Fatalf("no real call for %s", action)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException" {
		return false
	}
	if err != nil {
		t.Fatalf("real %s: %v", action, err)
	}
	return true
}

type wantStmt struct{ id, typ, marker string } // marker: text inside the statement

// TestSimulatePrincipalPolicyDecidesAsKMS asks SimulatePrincipalPolicy,
// through the AWS SDK, about roles, sessions, users, grants and the root
// on a key, checks the decision, the statements that decided and where
// they stand, and that the real request gets the same answer.
func TestSimulatePrincipalPolicyDecidesAsKMS(t *testing.T) {
	w := newSimWorld(t)
	c := w.s.iam(root)
	acme := map[string]string{"tenant": "acme"}
	for _, tc := range []struct {
		name     string
		source   string
		as       creds
		action   string
		ec       map[string]string
		extra    []types.ContextEntry
		decision types.PolicyEvaluationDecisionType
		matched  []wantStmt
		missing  []string
	}{
		{"role with its tenant", w.appARN, w.app, "kms:Decrypt", acme, nil, types.PolicyEvaluationDecisionTypeAllowed,
			[]wantStmt{{"default", "resource", `"Sid": "KeyUsers"`}}, nil},
		{"session with its tenant", w.sessARN, w.app, "kms:Encrypt", acme, nil, types.PolicyEvaluationDecisionTypeAllowed,
			[]wantStmt{{"default", "resource", `"Sid": "KeyUsers"`}}, nil},
		{"role without a context", w.appARN, w.app, "kms:Encrypt", nil, nil, types.PolicyEvaluationDecisionTypeImplicitDeny,
			nil, []string{"kms:EncryptionContext:tenant"}},
		{"role with another tenant", w.appARN, w.app, "kms:Encrypt", map[string]string{"tenant": "other"}, nil, types.PolicyEvaluationDecisionTypeImplicitDeny, nil, nil},
		{"role deleting", w.appARN, w.app, "kms:ScheduleKeyDeletion", nil, nil, types.PolicyEvaluationDecisionTypeExplicitDeny,
			[]wantStmt{{"default", "resource", `"Sid": "AppNeverDeletes"`}}, nil},
		{"user through the account", w.bobARN, w.bob, "kms:Encrypt", nil, nil, types.PolicyEvaluationDecisionTypeAllowed,
			[]wantStmt{{"default", "resource", `"Sid": "Account"`}, {"use", "user", `"Sid":"Use"`}}, nil},
		{"user from outside the office", w.bobARN, w.bob, "kms:Decrypt", nil,
			[]types.ContextEntry{{ContextKeyName: aws.String("aws:SourceIp"), ContextKeyValues: []string{"127.0.0.1"}, ContextKeyType: types.ContextKeyTypeEnumIp}},
			types.PolicyEvaluationDecisionTypeExplicitDeny, []wantStmt{{"office", "user", `"Sid":"OfficeOnly"`}}, nil},
		{"user through a grant", w.carolARN, w.carol, "kms:Encrypt", map[string]string{"project": "apollo"}, nil, types.PolicyEvaluationDecisionTypeAllowed,
			[]wantStmt{{w.grantID, "resource", ""}}, nil},
		{"grant outside its constraint", w.carolARN, w.carol, "kms:Encrypt", map[string]string{"project": "other"}, nil, types.PolicyEvaluationDecisionTypeImplicitDeny, nil, nil},
		{"root", "arn:aws:iam::" + account + ":root", root, "kms:Decrypt", nil, nil, types.PolicyEvaluationDecisionTypeAllowed,
			[]wantStmt{{"default", "resource", `"Sid": "Account"`}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := slices.Clone(tc.extra)
			for k, v := range tc.ec {
				entries = append(entries, ecEntry(k, v))
			}
			res := simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(tc.source), ActionNames: []string{tc.action},
				ResourceArns: []string{w.key}, ContextEntries: entries})
			if len(res) != 1 {
				t.Fatalf("%d results, want 1", len(res))
			}
			r := res[0]
			if aws.ToString(r.EvalActionName) != tc.action || aws.ToString(r.EvalResourceName) != w.key || r.EvalDecision != tc.decision {
				t.Fatalf("got %s %s %s, want %s %s %s", aws.ToString(r.EvalActionName), aws.ToString(r.EvalResourceName), r.EvalDecision, tc.action, w.key, tc.decision)
			}
			if real := w.realCall(t, tc.as, tc.action, tc.ec); real != (tc.decision == types.PolicyEvaluationDecisionTypeAllowed) {
				t.Errorf("the simulation says %s, the real request was allowed: %v", r.EvalDecision, real)
			}
			checkMatched(t, r.MatchedStatements, tc.matched, w.grantID)
			if len(r.ResourceSpecificResults) != 1 {
				t.Fatalf("%d resource-specific results, want 1", len(r.ResourceSpecificResults))
			}
			rs := r.ResourceSpecificResults[0]
			if aws.ToString(rs.EvalResourceName) != w.key || rs.EvalResourceDecision != tc.decision {
				t.Errorf("resource-specific result %s %s", aws.ToString(rs.EvalResourceName), rs.EvalResourceDecision)
			}
			checkMatched(t, rs.MatchedStatements, tc.matched, w.grantID)
			if got := rs.MissingContextValues; !slices.Equal(got, tc.missing) && len(got)+len(tc.missing) > 0 {
				t.Errorf("missing context values %q, want %q", got, tc.missing)
			}
			if len(r.MissingContextValues) != 0 {
				t.Errorf("with resources named, missing context values belong to each resource, got %q at the top", r.MissingContextValues)
			}
			if r.EvalDecisionDetails == nil || len(r.EvalDecisionDetails) != 0 {
				t.Errorf("within one account EvalDecisionDetails is present and empty, got %v", r.EvalDecisionDetails)
			}
		})
	}
}

func checkMatched(t *testing.T, got []types.Statement, want []wantStmt, grantID string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("matched %d statements, want %d: %+v", len(got), len(want), got)
	}
	docs := map[string]string{"default": simKeyPolicy, "use": bobUse, "office": bobOffice}
	for i, w := range want {
		g := got[i]
		if aws.ToString(g.SourcePolicyId) != w.id || string(g.SourcePolicyType) != w.typ {
			t.Errorf("statement %d from %s (%s), want %s (%s)", i, aws.ToString(g.SourcePolicyId), g.SourcePolicyType, w.id, w.typ)
		}
		if w.id == grantID {
			if g.StartPosition != nil {
				t.Errorf("a grant has no position, got %+v", g.StartPosition)
			}
			continue
		}
		wantPos := stmtAt(t, docs[w.id], w.marker)
		if g.StartPosition == nil || *g.StartPosition != wantPos {
			t.Errorf("statement %d starts at %+v, want %+v", i, g.StartPosition, wantPos)
		}
		if g.EndPosition == nil || g.EndPosition.Line < wantPos.Line || g.EndPosition.Line == wantPos.Line && g.EndPosition.Column <= wantPos.Column {
			t.Errorf("statement %d ends at %+v, before its start %+v", i, g.EndPosition, wantPos)
		}
	}
}

// TestSimulatePrincipalPolicyResources checks the order of the results,
// an alias, a key that does not exist, and "*".
func TestSimulatePrincipalPolicyResources(t *testing.T) {
	w := newSimWorld(t)
	c := w.s.iam(root)
	missingKey := "arn:aws:kms:us-east-1:" + account + ":key/00000000-0000-0000-0000-000000000000"
	res := simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN),
		ActionNames: []string{"kms:Encrypt", "kms:Decrypt"}, ResourceArns: []string{w.alias, missingKey}})
	var got []string
	for _, r := range res {
		got = append(got, aws.ToString(r.EvalActionName)+" "+aws.ToString(r.EvalResourceName)+" "+string(r.EvalDecision))
	}
	want := []string{
		"kms:Encrypt " + w.alias + " allowed", "kms:Encrypt " + missingKey + " implicitDeny",
		// Without aws:SourceIp, NotIpAddress holds, as in AWS: the Deny applies.
		"kms:Decrypt " + w.alias + " explicitDeny", "kms:Decrypt " + missingKey + " explicitDeny",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m := res[2].ResourceSpecificResults[0].MissingContextValues; !slices.Equal(m, []string{"aws:SourceIp"}) {
		t.Errorf("bob's Decrypt misses %q, want aws:SourceIp", m)
	}

	// "*": the identity policies alone, as AWS without a resource policy.
	office := types.ContextEntry{ContextKeyName: aws.String("aws:SourceIp"), ContextKeyValues: []string{"192.0.2.7"}, ContextKeyType: types.ContextKeyTypeEnumIp}
	res = simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ActionNames: []string{"kms:Decrypt", "kms:CreateKey"},
		ContextEntries: []types.ContextEntry{office}})
	if len(res) != 2 || res[0].EvalDecision != types.PolicyEvaluationDecisionTypeAllowed || res[1].EvalDecision != types.PolicyEvaluationDecisionTypeImplicitDeny {
		t.Fatalf("on *: %+v", res)
	}
	r := res[0]
	if aws.ToString(r.EvalResourceName) != "*" || r.EvalDecisionDetails != nil || r.ResourceSpecificResults != nil {
		t.Errorf("on * there are no details and no resource-specific results: %+v", r)
	}
	if r.MissingContextValues == nil || len(r.MissingContextValues) != 0 {
		t.Errorf("on * with aws:SourceIp given nothing is missing: %q", r.MissingContextValues)
	}
	res = simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ActionNames: []string{"kms:Decrypt"}})
	if !slices.Equal(res[0].MissingContextValues, []string{"aws:SourceIp"}) || res[0].EvalDecision != types.PolicyEvaluationDecisionTypeExplicitDeny {
		t.Errorf("on * missing context values are at the top: %q (%s)", res[0].MissingContextValues, res[0].EvalDecision)
	}
	checkMatched(t, r.MatchedStatements, []wantStmt{{"use", "user", `"Sid":"Use"`}}, "")

	// A policy given with the request counts as one of the principal's.
	extra := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Create*","Resource":"*"}}`
	res = simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.carolARN), ActionNames: []string{"kms:CreateKey"},
		PolicyInputList: []string{extra}})
	if res[0].EvalDecision != types.PolicyEvaluationDecisionTypeAllowed || len(res[0].MatchedStatements) != 1 ||
		aws.ToString(res[0].MatchedStatements[0].SourcePolicyId) != "PolicyInputList.1" || res[0].MatchedStatements[0].SourcePolicyType != types.PolicySourceTypeNone ||
		*res[0].MatchedStatements[0].StartPosition != stmtAt(t, extra, `"Effect"`) {
		t.Errorf("with PolicyInputList: %+v", res[0])
	}
}

// TestSimulatePrincipalPolicyCrossAccount simulates a user of another
// account on the key: both sides must allow, and EvalDecisionDetails
// says what each side decided.
func TestSimulatePrincipalPolicyCrossAccount(t *testing.T) {
	w := newSimWorld(t)
	cB := w.s.iam(rootB)
	if _, err := cB.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("partner")}); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"` + w.key + `"}]}`
	if _, err := cB.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("partner"), PolicyName: aws.String("shared"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	res := simulate(t, cB, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + accountB + ":user/partner"),
		ActionNames: []string{"kms:Encrypt", "kms:Decrypt"}, ResourceArns: []string{w.key}})
	for i, want := range []struct {
		decision string
		details  map[string]types.PolicyEvaluationDecisionType
	}{
		{"allowed", map[string]types.PolicyEvaluationDecisionType{"IAM Policy": "allowed", "Resource Policy": "allowed"}},
		{"implicitDeny", map[string]types.PolicyEvaluationDecisionType{"IAM Policy": "allowed", "Resource Policy": "implicitDeny"}},
	} {
		r := res[i]
		if string(r.EvalDecision) != want.decision || !mapsEqual(r.EvalDecisionDetails, want.details) || !mapsEqual(r.ResourceSpecificResults[0].EvalDecisionDetails, want.details) {
			t.Errorf("%s: %s %v, want %s %v", aws.ToString(r.EvalActionName), r.EvalDecision, r.EvalDecisionDetails, want.decision, want.details)
		}
	}
	// Of another account's key the simulation tells the decision, not where
	// in its policy the statement stands.
	if m := res[0].MatchedStatements; len(m) != 2 || aws.ToString(m[0].SourcePolicyId) != "default" || m[0].StartPosition != nil ||
		aws.ToString(m[1].SourcePolicyId) != "shared" || m[1].StartPosition == nil {
		t.Errorf("matched statements across accounts: %+v", m)
	}
	// A key that does not exist answers as one whose policy allows
	// nothing: no answer tells which keys another account holds.
	private := w.s.newKey(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`)
	missing := "arn:aws:kms:us-east-1:" + account + ":key/00000000-0000-0000-0000-000000000000"
	doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"},
 {"Effect":"Deny","Action":"kms:Decrypt","Resource":"*","Condition":{"Null":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	if _, err := cB.PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("partner"), PolicyName: aws.String("shared"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	res = simulate(t, cB, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + accountB + ":user/partner"),
		ActionNames: []string{"kms:Encrypt", "kms:Decrypt"}, ResourceArns: []string{private, missing}})
	for i := 0; i < len(res); i += 2 {
		if a, b := answer(res[i]), answer(res[i+1]); a != b {
			t.Errorf("an existing key\n%s\na missing one\n%s", a, b)
		}
	}
	if res[2].EvalDecision != types.PolicyEvaluationDecisionTypeExplicitDeny || res[2].EvalDecisionDetails["IAM Policy"] != "explicitDeny" {
		t.Errorf("Decrypt without MFA: %s %v", res[2].EvalDecision, res[2].EvalDecisionDetails)
	}

	// Another account's principals are not this account's to simulate.
	_, err := w.s.iam(root).SimulatePrincipalPolicy(bg, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + accountB + ":user/partner"), ActionNames: []string{"kms:Encrypt"}})
	wantErr(t, err, "AccessDenied", http.StatusForbidden)
}

// answer renders what a result says, whatever resource it is about.
func answer(r types.EvaluationResult) string {
	b := fmt.Sprintf("%s %s %v %v", aws.ToString(r.EvalActionName), r.EvalDecision, r.EvalDecisionDetails, r.MissingContextValues)
	stmts := func(ss []types.Statement) {
		for _, st := range ss {
			b += fmt.Sprintf(" [%s %s %v %v]", aws.ToString(st.SourcePolicyId), st.SourcePolicyType, st.StartPosition, st.EndPosition)
		}
	}
	stmts(r.MatchedStatements)
	for _, rs := range r.ResourceSpecificResults {
		b += fmt.Sprintf(" | %s %v %v", rs.EvalResourceDecision, rs.EvalDecisionDetails, rs.MissingContextValues)
		stmts(rs.MatchedStatements)
	}
	return b
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
