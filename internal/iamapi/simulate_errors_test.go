package iamapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// TestSimulatePrincipalPolicyErrors checks AWS's error codes and statuses:
// NoSuchEntity for a principal that does not exist, InvalidInput for what
// cannot be simulated, ValidationError for a missing member.
func TestSimulatePrincipalPolicyErrors(t *testing.T) {
	w := newSimWorld(t)
	c := w.s.iam(root)
	ip := func(v string) []types.ContextEntry {
		return []types.ContextEntry{{ContextKeyName: aws.String("aws:SourceIp"), ContextKeyValues: []string{v}, ContextKeyType: types.ContextKeyTypeEnumIp}}
	}
	for _, tc := range []struct {
		name   string
		in     iam.SimulatePrincipalPolicyInput
		code   string
		status int
		msg    string
	}{
		{"no such user", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + account + ":user/nobody")},
			"NoSuchEntity", 404, "The user with name nobody cannot be found."},
		{"no such role", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + account + ":role/nobody")},
			"NoSuchEntity", 404, "The role with name nobody cannot be found."},
		{"user under another path", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + account + ":user/team/bob")},
			"NoSuchEntity", 404, "The user with ARN arn:aws:iam::" + account + ":user/team/bob cannot be found."},
		{"not an ARN", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("bob-the-builder-of-things")},
			"InvalidInput", 400, "Invalid ARN bob-the-builder-of-things"},
		{"a key is no principal", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.key)},
			"InvalidInput", 400, "Invalid ARN " + w.key},
		{"not an IP address", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ContextEntries: ip("10.0.0")},
			"InvalidInput", 400, "Invalid value '10.0.0' for context key aws:SourceIp of type ip."},
		{"two values for one", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ContextEntries: []types.ContextEntry{{
			ContextKeyName: aws.String("kms:EncryptionAlgorithm"), ContextKeyValues: []string{"a", "b"}, ContextKeyType: types.ContextKeyTypeEnumString}}},
			"InvalidInput", 400, "Context key kms:EncryptionAlgorithm of type string takes one value, not 2."},
		{"a resource policy", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ResourcePolicy: aws.String(simKeyPolicy)},
			"InvalidInput", 400, "kmsd does not take ResourcePolicy: on a kmsd key it simulates the key's own policy and grants"},
		{"a policy that does not parse", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), PolicyInputList: []string{`{"Statement":[]}`}},
			"InvalidInput", 400, "PolicyInputList.1 is not a valid policy"},
		{"a type AWS does not have", iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ContextEntries: []types.ContextEntry{{
			ContextKeyName: aws.String("aws:SourceIp"), ContextKeyValues: []string{"10.0.0.1"}, ContextKeyType: "address"}}},
			"ValidationError", 400, "1 validation error detected: Value 'address' at 'contextEntries.1.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [string, stringList"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.ActionNames = []string{"kms:Decrypt"}
			_, err := c.SimulatePrincipalPolicy(bg, &in)
			if msg := wantErr(t, err, tc.code, tc.status); !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("message %q, want it to start with %q", msg, tc.msg)
			}
		})
	}

	// The SDK refuses to send a request without ActionNames; the server
	// refuses it too.
	resp := w.s.signed(root, "iam", url.Values{"Action": {"SimulatePrincipalPolicy"}, "Version": {"2010-05-08"}, "PolicySourceArn": {w.bobARN}}.Encode(), nil)
	if resp.Status != http.StatusBadRequest || !strings.Contains(resp.Body, "<Code>ValidationError</Code>") ||
		!strings.Contains(resp.Body, "Value null at &#39;actionNames&#39; failed to satisfy constraint: Member must not be null") {
		t.Errorf("without ActionNames: %d %s", resp.Status, resp.Body)
	}
}

// TestSimulatePrincipalPolicyAuthorization checks that the call itself is
// authorized by iam:SimulatePrincipalPolicy on the simulated principal.
func TestSimulatePrincipalPolicyAuthorization(t *testing.T) {
	w := newSimWorld(t)
	in := func(arn string) *iam.SimulatePrincipalPolicyInput {
		return &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(arn), ActionNames: []string{"kms:Encrypt"}}
	}
	_, err := w.s.iam(w.bob).SimulatePrincipalPolicy(bg, in(w.carolARN))
	msg := wantErr(t, err, "AccessDenied", http.StatusForbidden)
	if want := "User: " + w.bobARN + " is not authorized to perform: iam:SimulatePrincipalPolicy on resource: " + w.carolARN; !strings.HasPrefix(msg, want) {
		t.Errorf("message %q, want %q…", msg, want)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"` + w.carolARN + `"}]}`
	if _, err := w.s.iam(root).PutUserPolicy(bg, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("simulate"), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.iam(w.bob).SimulatePrincipalPolicy(bg, in(w.carolARN)); err != nil {
		t.Fatalf("with iam:SimulatePrincipalPolicy on carol: %v", err)
	}
	_, err = w.s.iam(w.bob).SimulatePrincipalPolicy(bg, in(w.appARN))
	wantErr(t, err, "AccessDenied", http.StatusForbidden)
}

// TestSimulatePrincipalPolicyPages pages through the results with MaxItems
// and Marker, as the SDK's paginator does.
func TestSimulatePrincipalPolicyPages(t *testing.T) {
	w := newSimWorld(t)
	c := w.s.iam(root)
	in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ActionNames: []string{"kms:Encrypt", "kms:Decrypt", "kms:Sign"},
		ResourceArns: []string{w.key}, MaxItems: aws.Int32(2)}
	first, err := c.SimulatePrincipalPolicy(bg, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.EvaluationResults) != 2 || !first.IsTruncated || first.Marker == nil {
		t.Fatalf("first page: %d results, truncated %v, marker %v", len(first.EvaluationResults), first.IsTruncated, first.Marker)
	}
	var actions []string
	pages := iam.NewSimulatePrincipalPolicyPaginator(c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.EvaluationResults {
			actions = append(actions, aws.ToString(r.EvalActionName))
		}
	}
	if strings.Join(actions, " ") != "kms:Encrypt kms:Decrypt kms:Sign" {
		t.Errorf("pages held %v", actions)
	}
	_, err = c.SimulatePrincipalPolicy(bg, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.bobARN), ActionNames: []string{"kms:Encrypt"}, Marker: aws.String("9")})
	wantErr(t, err, "InvalidInput", http.StatusBadRequest)
}

// TestSimulatePrincipalPolicyAudited checks the CloudTrail record of a
// simulation, and that a refused one is recorded too.
func TestSimulatePrincipalPolicyAudited(t *testing.T) {
	w := newSimWorld(t)
	c := w.s.iam(root)
	simulate(t, c, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.appARN), ActionNames: []string{"kms:Decrypt"},
		ResourceArns: []string{w.key}, ContextEntries: []types.ContextEntry{ecEntry("tenant", "acme")}})
	_, err := w.s.iam(w.bob).SimulatePrincipalPolicy(bg, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(w.appARN), ActionNames: []string{"kms:Decrypt"}})
	wantErr(t, err, "AccessDenied", http.StatusForbidden)
	var ok, denied bool
	for _, rec := range w.s.readAudit() {
		if rec["eventName"] != "SimulatePrincipalPolicy" {
			continue
		}
		if rec["eventSource"] != "iam.amazonaws.com" || rec["awsRegion"] != "us-east-1" || rec["readOnly"] != true {
			t.Errorf("record: %v", rec)
		}
		rp, _ := rec["requestParameters"].(map[string]any)
		if rp["policySourceArn"] != w.appARN {
			t.Errorf("requestParameters: %v", rp)
		}
		switch rec["errorCode"] {
		case nil:
			ok = rec["userIdentity"].(map[string]any)["type"] == "Root" && rp["resourceArns"] != nil && rp["contextEntries"] != nil
		case "AccessDenied":
			denied = rec["userIdentity"].(map[string]any)["arn"] == w.bobARN
		}
	}
	if !ok || !denied {
		t.Errorf("records: simulation %v, refusal %v", ok, denied)
	}
}

// failingKeys is a key service that cannot answer.
type failingKeys struct{}

func (failingKeys) ExplainRequest(context.Context, kmscore.PolicyAuthorizer, *kmscore.ExplainRequest) (*kmscore.Explanation, error) {
	return nil, kmserr.Internalf("store: database is down")
}

// TestSimulatePrincipalPolicyEvaluationFails checks AWS's PolicyEvaluation
// error (HTTP 500) when the key service fails, with the cause in the log
// and not in the answer.
func TestSimulatePrincipalPolicyEvaluationFails(t *testing.T) {
	s := startEnforced(t, failingKeys{})
	key := "arn:aws:kms:us-east-1:" + account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	_, err := s.iam(root).SimulatePrincipalPolicy(bg, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String("arn:aws:iam::" + account + ":root"),
		ActionNames: []string{"kms:Decrypt"}, ResourceArns: []string{key}})
	msg := wantErr(t, err, "PolicyEvaluation", http.StatusInternalServerError)
	if want := "The policies of arn:aws:iam::" + account + ":root could not be evaluated for kms:Decrypt on " + key + "."; msg != want || strings.Contains(msg, "database") {
		t.Errorf("message %q, want %q", msg, want)
	}
	if !strings.Contains(s.Logs.String(), "database is down") {
		t.Errorf("the log does not hold the cause:\n%s", s.Logs.String())
	}
}
