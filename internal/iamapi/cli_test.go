package iamapi_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs a bash script with the AWS CLI against s, signing with the
// root's credentials unless the script says otherwise.
func (s *server) runCLI(script string) (string, error) {
	s.t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		s.t.Fatal("the AWS CLI is not installed (scripts/ensure-tools.sh installs it)")
	}
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+strings.ReplaceAll(script, "http://127.0.0.1:8080", s.URL))
	cmd.Dir = s.t.TempDir()
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+rootKey, "AWS_SECRET_ACCESS_KEY="+rootSecret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_SESSION_TOKEN=", "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// readmeScript is the bash of the README section on IAM and STS.
func readmeScript(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## Users, roles and sessions: IAM and STS"
	_, md, ok := strings.Cut(string(readme), heading)
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	if i := strings.Index(md, "\n## "); i >= 0 {
		md = md[:i]
	}
	var b strings.Builder
	for i, m := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(string(md), -1) {
		fmt.Fprintf(&b, "echo '--- block %d'\n%s\n", i+1, m[1])
	}
	return b.String()
}

// TestReadmeSectionWithTheCLI runs the README's IAM and STS walkthrough
// with the AWS CLI against a server that verifies signatures, as
// `kmsd dev --enforce` does, and against a permissive one, as `kmsd dev`.
func TestReadmeSectionWithTheCLI(t *testing.T) {
	s := start(t, true)
	out, err := s.runCLI(readmeScript(t))
	if err != nil {
		t.Fatalf("README section failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"Arn": "arn:aws:iam::111122223333:root"`,
		"\narn:aws:iam::111122223333:user/alice\n",
		"\narn:aws:kms:us-east-1:111122223333:key/",
		"\narn:aws:iam::111122223333:role/deployer\n",
		"\narn:aws:sts::111122223333:assumed-role/deployer/release-1\n",
		`"AWS": "arn:aws:iam::111122223333:root"`,
		`"Active"`,
		`"kms:*",`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var sessionKMS bool
	for _, rec := range s.readAudit() {
		ui := rec["userIdentity"].(map[string]any)
		if rec["eventName"] == "ListKeys" && ui["type"] == "AssumedRole" && ui["arn"] == "arn:aws:sts::111122223333:assumed-role/deployer/release-1" {
			sessionKMS = true
		}
		if rec["eventSource"] != "kms.amazonaws.com" && rec["errorCode"] != nil {
			t.Errorf("%s failed: %v %v", rec["eventName"], rec["errorCode"], rec["errorMessage"])
		}
	}
	if !sessionKMS {
		t.Error("no audit record of the session's ListKeys as AssumedRole")
	}

	p := start(t, false)
	if out, err := p.runCLI(readmeScript(t)); err != nil {
		t.Fatalf("README section against a permissive server failed: %v\n%s", err, out)
	}
}

// TestCLIErrors checks the errors the AWS CLI shows.
func TestCLIErrors(t *testing.T) {
	s := start(t, true)
	for _, tc := range []struct{ cmd, want string }{
		{"aws --endpoint-url http://127.0.0.1:8080 iam get-user --user-name nobody",
			"An error occurred (NoSuchEntity) when calling the GetUser operation: The user with name nobody cannot be found."},
		{"aws --endpoint-url http://127.0.0.1:8080 iam create-role --role-name r --assume-role-policy-document '{\"Statement\": ['",
			"An error occurred (MalformedPolicyDocument) when calling the CreateRole operation: Syntax errors in policy."},
		{"aws --endpoint-url http://127.0.0.1:8080 sts assume-role --role-arn arn:aws:iam::111122223333:role/none --role-session-name s1",
			"An error occurred (AccessDenied) when calling the AssumeRole operation: Roles may not be assumed by root accounts."},
		{"AWS_SECRET_ACCESS_KEY=wrong aws --endpoint-url http://127.0.0.1:8080 iam list-users",
			"An error occurred (SignatureDoesNotMatch) when calling the ListUsers operation: The request signature we calculated does not match"},
		{"AWS_SESSION_TOKEN=bogus aws --endpoint-url http://127.0.0.1:8080 sts get-caller-identity",
			"An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid"},
	} {
		out, err := s.runCLI(tc.cmd)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %v\n%s\nwant %q", tc.cmd, err, out, tc.want)
		}
	}
}
