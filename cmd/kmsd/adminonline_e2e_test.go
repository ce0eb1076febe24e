package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// adminEnv is the environment of an admin command or the AWS CLI signing
// with the given credentials, and nothing from the machine's AWS setup.
func adminEnv(akid, secret string) []string {
	return append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+akid, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_SESSION_TOKEN=", "AWS_DEFAULT_REGION=us-east-1", "KMSD_CONFIG=")
}

func runAdminBin(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kmsdBin, append([]string{"admin"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestExplainOnlineAgreesWithTheCLIAndTheDataDirectory asks a running
// `kmsd dev --enforce`, through `kmsd admin explain --endpoint` and
// through `aws iam simulate-principal-policy`, then the stopped server's
// data directory through `kmsd admin explain --data`: the three agree on
// the decision and on the statement or grant that made it.
func TestExplainOnlineAgreesWithTheCLIAndTheDataDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--enforce", "--data", data)
	root := p.as(docKey, docSecret, "")
	newUser(t, p, root, "bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)
	newUser(t, p, root, "carol", "")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:user/bob"},"Action":"sts:AssumeRole"}]}`
	if _, err := root.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("App"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	keyPolicy := `{"Version":"2012-10-17","Statement":[
 {"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"KeyUsers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:role/App"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
  "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"acme"}}},
 {"Sid":"AppNeverDeletes","Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*",
  "Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::` + acctA + `:role/App"}}}
]}`
	ck, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(keyPolicy)})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := *ck.KeyMetadata.Arn
	g, err := root.kms.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), Name: aws.String("carol-decrypts"),
		GranteePrincipal: aws.String("arn:aws:iam::" + acctA + ":user/carol"), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}})
	if err != nil {
		t.Fatal(err)
	}

	role, bob, carol := "arn:aws:iam::"+acctA+":role/App", "arn:aws:iam::"+acctA+":user/bob", "arn:aws:iam::"+acctA+":user/carol"
	cases := []struct {
		principal, action string
		context           []string // --context pairs
		decision          string
		lines             []string // what explain prints after its first lines, in both forms
	}{
		{role, "kms:Decrypt", []string{"tenant=acme"}, "allowed", []string{"  statement: key policy, line 3, column 2"}},
		{role, "kms:Decrypt", nil, "implicitDeny", []string{"  no statement or grant allows it", "  context keys the policies use that the request lacks: kms:EncryptionContext:tenant"}},
		{role, "kms:ScheduleKeyDeletion", nil, "explicitDeny", []string{"  statement: key policy, line 5, column 2"}},
		{bob, "kms:Encrypt", nil, "allowed", []string{"  statement: key policy, line 2, column 2", `  statement: inline policy "p" of the user, line 1, column 38`}},
		{bob, "kms:Decrypt", nil, "implicitDeny", []string{"  no statement or grant allows it"}},
		{carol, "kms:Decrypt", nil, "allowed", []string{"  grant: " + *g.GrantId}},
	}
	env := adminEnv(docKey, docSecret)
	args := func(i int) []string {
		a := []string{"explain", "--principal", cases[i].principal, "--action", cases[i].action, "--key", keyARN}
		for _, c := range cases[i].context {
			a = append(a, "--context", c)
		}
		return a
	}
	online := make([]string, len(cases))
	for i, tc := range cases {
		out, err := runAdminBin(t, env, append(args(i), "--endpoint", p.url)...)
		if err != nil {
			t.Fatalf("explain --endpoint %v: %v\n%s", args(i), err, out)
		}
		verdict := "ALLOWED"
		if tc.decision != "allowed" {
			verdict = "DENIED"
		}
		want := fmt.Sprintf("%s: %s %s on %s\n  %s\n%s\n", verdict, tc.principal, tc.action, keyARN, tc.decision, strings.Join(tc.lines, "\n"))
		if out != want {
			t.Errorf("explain --endpoint %v:\n%s\nwant:\n%s", args(i), out, want)
		}
		online[i] = out

		// The AWS CLI gets the same answer from the same server.
		cli := []string{"--endpoint-url", p.url, "iam", "simulate-principal-policy", "--policy-source-arn", tc.principal,
			"--action-names", tc.action, "--resource-arns", keyARN}
		for _, c := range tc.context {
			k, v, _ := strings.Cut(c, "=")
			cli = append(cli, "--context-entries", "ContextKeyName=kms:EncryptionContext:"+k+",ContextKeyValues="+v+",ContextKeyType=string")
		}
		cmd := exec.Command("aws", cli...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", cli, err, b)
		}
		var sim struct {
			EvaluationResults []struct {
				EvalDecision      string
				MatchedStatements []struct {
					SourcePolicyID   string `json:"SourcePolicyId"`
					SourcePolicyType string
					StartPosition    *struct{ Line, Column int }
				}
			}
		}
		if err := json.Unmarshal(b, &sim); err != nil || len(sim.EvaluationResults) != 1 {
			t.Fatalf("aws %v: %v\n%s", cli, err, b)
		}
		r := sim.EvaluationResults[0]
		var lines []string
		for _, s := range r.MatchedStatements {
			lines = append(lines, fmt.Sprintf("%s %s %v", s.SourcePolicyType, s.SourcePolicyID, s.StartPosition))
		}
		if r.EvalDecision != tc.decision || len(r.MatchedStatements) != strings.Count(strings.Join(tc.lines, "\n"), "statement:")+strings.Count(strings.Join(tc.lines, "\n"), "grant:") {
			t.Errorf("aws iam simulate-principal-policy for %v: %s %v, want %s as explain said", args(i), r.EvalDecision, lines, tc.decision)
		}
	}

	// The stopped server's data directory: the same first line and the
	// same statements, with kmsd's own reason and the refusal's message.
	p.stop()
	for i := range cases {
		out, err := runAdminBin(t, env, append(args(i), "--data", data)...)
		if err != nil {
			t.Fatalf("explain --data %v: %v\n%s", args(i), err, out)
		}
		onLines, offLines := strings.Split(online[i], "\n"), strings.Split(out, "\n")
		if offLines[0] != onLines[0] {
			t.Errorf("explain %v: on the data directory\n%s\nrunning\n%s", args(i), offLines[0], onLines[0])
		}
		for _, l := range onLines[2:] {
			if l != "" && !strings.Contains(out, "\n"+l) {
				t.Errorf("explain --data %v lacks %q:\n%s", args(i), l, out)
			}
		}
	}
}

// TestAdminOnlineAgainstServe starts `kmsd serve`, takes the root's
// access key it prints on first start, and administers the running
// server with it: an access key for a new user that works at once, and an
// explanation. Without credentials, or with wrong ones, the commands say so.
func TestAdminOnlineAgainstServe(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "serve", "--data", t.TempDir())
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve did not print a bootstrap access key:\n%s", p.stdout)
	}
	env := adminEnv(m[1], m[2])

	out, err := runAdminBin(t, env, "create-access-key", "--endpoint", p.url, "--user", "ci")
	if err != nil {
		t.Fatalf("create-access-key --endpoint: %v\n%s", err, out)
	}
	ciARN := "arn:aws:iam::" + acctA + ":user/ci"
	if !strings.HasPrefix(out, "Created the IAM user "+ciARN+".\nCreated an access key for "+ciARN+". The secret is shown only now:\n") {
		t.Fatalf("create-access-key --endpoint:\n%s", out)
	}
	k := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)\s+export AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(out)
	if k == nil {
		t.Fatalf("no key in:\n%s", out)
	}
	id, err := p.as(k[1], k[2], "").sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *id.Arn != ciARN {
		t.Fatalf("the new key, at once: %v", err)
	}
	// Again for the same user: a second key, no second user.
	out, err = runAdminBin(t, env, "create-access-key", "--endpoint", p.url, "--user", "ci")
	if err != nil || strings.Contains(out, "Created the IAM user") || !strings.Contains(out, "Created an access key for "+ciARN) {
		t.Fatalf("a second key for ci: %v\n%s", err, out)
	}

	root := p.as(m[1], m[2], "")
	ck, err := root.kms.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runAdminBin(t, env, "explain", "--endpoint", p.url, "--principal", ciARN, "--action", "kms:Decrypt", "--key", *ck.KeyMetadata.KeyId)
	want := "DENIED: " + ciARN + " kms:Decrypt on " + *ck.KeyMetadata.Arn + "\n  implicitDeny\n  no statement or grant allows it\n"
	if err != nil || out != want {
		t.Fatalf("explain --endpoint: %v\n%s\nwant:\n%s", err, out, want)
	}
	// The new user may not simulate others: the server authorizes the call.
	out, err = runAdminBin(t, adminEnv(k[1], k[2]), "explain", "--endpoint", p.url, "--principal", "arn:aws:iam::"+acctA+":root", "--action", "kms:Decrypt", "--key", *ck.KeyMetadata.Arn)
	if err == nil || !strings.Contains(out, "SimulatePrincipalPolicy: AccessDenied: User: "+ciARN+" is not authorized to perform: iam:SimulatePrincipalPolicy") {
		t.Fatalf("explain --endpoint as ci: %v\n%s", err, out)
	}
	out, err = runAdminBin(t, adminEnv(m[1], m[2]+"x"), "create-access-key", "--endpoint", p.url)
	if err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
		t.Fatalf("with a wrong secret: %v\n%s", err, out)
	}
	noCreds := append(adminEnv("", ""), "AWS_EC2_METADATA_DISABLED=true")
	out, err = runAdminBin(t, noCreds, "create-access-key", "--endpoint", p.url)
	if err == nil || !strings.Contains(out, "no credentials to sign with: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("without credentials: %v\n%s", err, out)
	}
	out, err = runAdminBin(t, env, "create-access-key", "--endpoint", p.url, "--data", t.TempDir())
	if err == nil || !strings.Contains(out, "leave out --data and --account-id") {
		t.Fatalf("--endpoint with --data: %v\n%s", err, out)
	}
}
