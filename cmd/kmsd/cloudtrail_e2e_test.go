package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// cli runs the AWS CLI against p with the given credentials and returns
// its combined output.
func (p *proc) cli(t *testing.T, akid, secretKey string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatal("the AWS CLI is not installed (scripts/ensure-tools.sh installs it)")
	}
	cmd := exec.Command("aws", append([]string{"--endpoint-url", p.url, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"AWS_ACCESS_KEY_ID="+akid, "AWS_SECRET_ACCESS_KEY="+secretKey, "AWS_SESSION_TOKEN=", "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// rootCLI runs the CLI as the account root and fails the test on an error.
func (p *proc) rootCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.cli(t, docKey, docSecret, args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// lookedUp is the part of lookup-events' output the tests read.
type lookedUp struct {
	Events []struct {
		EventId, EventName, Username, ReadOnly, CloudTrailEvent string
		Resources                                               []struct{ ResourceType, ResourceName string }
	}
	NextToken string
}

func lookupJSON(t *testing.T, out string) lookedUp {
	t.Helper()
	var l lookedUp
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("lookup-events output: %v\n%s", err, out)
	}
	return l
}

func (l lookedUp) names() []string {
	var out []string
	for _, ev := range l.Events {
		out = append(out, ev.EventName)
	}
	return out
}

// TestLookupEventsWithTheCLI drives `aws cloudtrail lookup-events` against
// the binary with signatures enforced: a key's calls are found by its ARN,
// newest first, across pages; AWS's validation errors and AccessDenied
// reach the CLI; and the index survives a restart and is rebuilt when
// deleted.
func TestLookupEventsWithTheCLI(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := startKMSD(t, "dev", "--enforce", "--data", data)
	arn := strings.TrimSpace(p.rootCLI(t, "kms", "create-key", "--description", "orders", "--query", "KeyMetadata.Arn", "--output", "text"))
	for range 2 {
		p.rootCLI(t, "kms", "encrypt", "--key-id", arn, "--plaintext", "aGVsbG8=")
	}
	p.rootCLI(t, "kms", "describe-key", "--key-id", arn)
	p.rootCLI(t, "kms", "create-key", "--description", "another")
	byKey := []string{"cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=ResourceName,AttributeValue=" + arn}
	want := []string{"DescribeKey", "Encrypt", "Encrypt", "CreateKey"}

	all := lookupJSON(t, p.rootCLI(t, byKey...))
	if got := all.names(); !slices.Equal(got, want) {
		t.Fatalf("lookup by ResourceName: %v, want %v", got, want)
	}
	for _, ev := range all.Events {
		if ev.Username != "root" || len(ev.Resources) != 1 || ev.Resources[0].ResourceName != arn || ev.Resources[0].ResourceType != "AWS::KMS::Key" ||
			!strings.Contains(ev.CloudTrailEvent, `"eventID":"`+ev.EventId+`"`) {
			t.Errorf("event %+v", ev)
		}
	}

	// Pages of two, following NextToken by hand...
	first := lookupJSON(t, p.rootCLI(t, append(byKey, "--no-paginate", "--max-results", "2")...))
	if first.NextToken == "" || !slices.Equal(first.names(), want[:2]) {
		t.Fatalf("first page: %v, NextToken %q", first.names(), first.NextToken)
	}
	second := lookupJSON(t, p.rootCLI(t, append(byKey, "--no-paginate", "--max-results", "2", "--next-token", first.NextToken)...))
	if second.NextToken != "" || !slices.Equal(second.names(), want[2:]) {
		t.Fatalf("second page: %v, NextToken %q", second.names(), second.NextToken)
	}
	// ...and by the CLI's own paginator, a page of one at a time.
	if got := lookupJSON(t, p.rootCLI(t, append(byKey, "--page-size", "1")...)).names(); !slices.Equal(got, want) {
		t.Fatalf("--page-size 1: %v", got)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-results", "51"}, "(InvalidMaxResultsException) when calling the LookupEvents operation: MaxResults 51 is not valid."},
		{[]string{"--lookup-attributes", "AttributeKey=EventName,AttributeValue=Encrypt", "AttributeKey=Username,AttributeValue=root"},
			"(InvalidLookupAttributesException) when calling the LookupEvents operation: You can specify only one lookup attribute"},
		{[]string{"--lookup-attributes", "AttributeKey=Colour,AttributeValue=blue"}, "(InvalidLookupAttributesException) when calling the LookupEvents operation: Lookup attribute key 'Colour' is not valid."},
		{[]string{"--start-time", "2026-01-02T00:00:00Z", "--end-time", "2026-01-01T00:00:00Z"}, "(InvalidTimeRangeException) when calling the LookupEvents operation: The start time"},
		{[]string{"--no-paginate", "--next-token", "bogus"}, "(InvalidNextTokenException) when calling the LookupEvents operation: Invalid NextToken."},
		{[]string{"--no-paginate", "--next-token", first.NextToken}, "(InvalidNextTokenException)"}, // without the attribute it was issued with
		{[]string{"--event-category", "data"}, "(InvalidEventCategoryException) when calling the LookupEvents operation: Event category 'data' is not valid."},
	} {
		out, err := p.cli(t, docKey, docSecret, append([]string{"cloudtrail", "lookup-events"}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("lookup-events %s: %v\n%s\nwant %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}

	// An IAM user needs cloudtrail:LookupEvents.
	p.rootCLI(t, "iam", "create-user", "--user-name", "dana")
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := json.Unmarshal([]byte(p.rootCLI(t, "iam", "create-access-key", "--user-name", "dana")), &key); err != nil {
		t.Fatal(err)
	}
	out, err := p.cli(t, key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, "cloudtrail", "lookup-events")
	if err == nil || !strings.Contains(out, "An error occurred (AccessDeniedException) when calling the LookupEvents operation: User: arn:aws:iam::111122223333:user/dana is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action") {
		t.Errorf("user without permission: %v\n%s", err, out)
	}
	p.rootCLI(t, "iam", "put-user-policy", "--user-name", "dana", "--policy-name", "trail",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:LookupEvents","Resource":"*"}]}`)
	out, err = p.cli(t, key.AccessKey.AccessKeyId, key.AccessKey.SecretAccessKey, append(byKey, "--max-results", "1", "--no-paginate")...)
	if err != nil || !slices.Equal(lookupJSON(t, out).names(), want[:1]) {
		t.Errorf("user with permission: %v\n%s", err, out)
	}

	// The index outlives a restart...
	p.stop()
	p = startKMSD(t, "dev", "--enforce", "--data", data)
	if got := lookupJSON(t, p.rootCLI(t, byKey...)).names(); !slices.Equal(got, want) {
		t.Fatalf("after a restart: %v", got)
	}
	// ...and is rebuilt from the log when deleted.
	p.stop()
	_, _, auditLog := dataPaths(data)
	if err := os.Remove(auditLog + ".index"); err != nil {
		t.Fatal(err)
	}
	p = startKMSD(t, "dev", "--enforce", "--data", data)
	var got []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = lookupJSON(t, p.rootCLI(t, byKey...)).names(); slices.Equal(got, want) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after deleting the index: %v", got)
	}
	if _, err := os.Stat(auditLog + ".index"); err != nil {
		t.Errorf("index not recreated: %v", err)
	}
	if out, err := exec.Command(kmsdBin, "audit", "verify", "--file", filepath.Clean(auditLog)).CombinedOutput(); err != nil {
		t.Errorf("audit verify after lookups: %v\n%s", err, out)
	}
}

// TestReadmeAuditTrailSection runs the README's audit trail section as
// written against `kmsd dev --enforce`, with the walkthrough's root
// credentials, and checks what it shows.
func TestReadmeAuditTrailSection(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "## Audit trail: `aws cloudtrail lookup-events`"
	_, md, ok := strings.Cut(string(readme), heading)
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	if i := strings.Index(md, "\n## "); i >= 0 {
		md = md[:i]
	}
	blocks := regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(md, -1)
	if len(blocks) != 3 {
		t.Fatalf("found %d bash blocks in the section, want 3", len(blocks))
	}
	p := startKMSD(t, "dev", "--enforce", "--data", t.TempDir())
	var script strings.Builder
	script.WriteString("set -euo pipefail\nexport AWS_ACCESS_KEY_ID=" + docKey + " AWS_SECRET_ACCESS_KEY=" + docSecret + " AWS_DEFAULT_REGION=us-east-1\n")
	for i, b := range blocks {
		fmt.Fprintf(&script, "echo '--- block %d'\n%s\n", i+1, strings.ReplaceAll(b[1], "http://127.0.0.1:8080", p.url))
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_SESSION_TOKEN=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README section failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"DisableKey\troot\tfalse\nDecrypt\troot\ttrue\nEncrypt\troot\ttrue\nCreateKey\troot\tfalse\n",
		"--- block 2\nEncrypt\tCreateKey\n",
		`"eventName":"Decrypt"`,
		"AccessDeniedException) when calling the LookupEvents operation: User: arn:aws:iam::111122223333:user/auditor is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action",
		"\nLookupEvents\tcloudtrail.amazonaws.com\ttrue\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README section output lacks %q:\n%s", want, out)
		}
	}
}

// TestLookupEventsOnAnEphemeralServer finds calls among the records an
// ephemeral server keeps in memory, as a server with a log on disk finds
// them, a page at a time.
func TestLookupEventsOnAnEphemeralServer(t *testing.T) {
	t.Parallel()
	p := startKMSD(t, "dev", "--ephemeral", "--enforce")
	arn := strings.TrimSpace(p.rootCLI(t, "kms", "create-key", "--query", "KeyMetadata.Arn", "--output", "text"))
	p.rootCLI(t, "kms", "encrypt", "--key-id", arn, "--plaintext", "aGVsbG8=")
	p.rootCLI(t, "kms", "disable-key", "--key-id", arn)
	byKey := []string{"cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=ResourceName,AttributeValue=" + arn}
	want := []string{"DisableKey", "Encrypt", "CreateKey"}
	if got := lookupJSON(t, p.rootCLI(t, append(byKey, "--page-size", "2")...)).names(); !slices.Equal(got, want) {
		t.Fatalf("lookup by ResourceName: %v, want %v", got, want)
	}
	first := lookupJSON(t, p.rootCLI(t, append(byKey, "--no-paginate", "--max-results", "1")...))
	if first.NextToken == "" || !slices.Equal(first.names(), want[:1]) {
		t.Fatalf("first page: %v, NextToken %q", first.names(), first.NextToken)
	}
	out, err := p.cli(t, docKey, docSecret, "cloudtrail", "lookup-events", "--max-results", "51")
	if err == nil || !strings.Contains(out, "(InvalidMaxResultsException)") {
		t.Errorf("MaxResults 51: %v\n%s", err, out)
	}
}
