package iamapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// signed sends a form-encoded body signed by c for service, as the AWS
// CLI does; extra headers are set before signing.
func (s *server) signed(c creds, service, body string, extra map[string]string) rawResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(bg, aws.Credentials{AccessKeyID: c.key, SecretAccessKey: c.secret, SessionToken: c.token},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// wantErrorDocument checks a query-protocol error response byte for byte.
func wantErrorDocument(t *testing.T, r rawResponse, status int, namespace, typ, code, message string) {
	t.Helper()
	id := r.Header.Get("X-Amzn-Requestid")
	want := `<ErrorResponse xmlns="` + namespace + `"><Error><Type>` + typ + `</Type><Code>` + code + `</Code><Message>` +
		message + `</Message></Error><RequestId>` + id + `</RequestId></ErrorResponse>`
	if r.Status != status || r.Body != want || id == "" || r.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("HTTP %d %s\n%s\nwant HTTP %d\n%s", r.Status, r.Header.Get("Content-Type"), r.Body, status, want)
	}
}

const (
	nsIAM = "https://iam.amazonaws.com/doc/2010-05-08/"
	nsSTS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

func TestErrorDocuments(t *testing.T) {
	s := start(t, true)
	r := s.post("Action=ListUsers&Version=2010-05-08", nil)
	wantErrorDocument(t, r, 403, nsIAM, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token")

	r = s.signed(root, "iam", "Action=Frobnicate&Version=2010-05-08", nil)
	wantErrorDocument(t, r, 400, nsIAM, "Sender", "InvalidAction", "Could not find operation Frobnicate for version 2010-05-08")
	r = s.signed(root, "iam", "Action=GetCallerIdentity&Version=2011-06-15", nil)
	wantErrorDocument(t, r, 400, nsIAM, "Sender", "InvalidAction", "Could not find operation GetCallerIdentity for version 2011-06-15")
	r = s.signed(root, "sts", "Version=2011-06-15", nil)
	wantErrorDocument(t, r, 400, nsSTS, "Sender", "MissingAction", "Missing Action")

	r = s.signed(root, "iam", "Action=CreateUser&Version=2010-05-08", nil)
	wantErrorDocument(t, r, 400, nsIAM, "Sender", "ValidationError",
		"1 validation error detected: Value null at &#39;userName&#39; failed to satisfy constraint: Member must not be null")
	r = s.signed(root, "iam", "Action=GetRole&Version=2010-05-08&RoleName=nothing", nil)
	wantErrorDocument(t, r, 404, nsIAM, "Sender", "NoSuchEntity", "The role with name nothing cannot be found.")

	r = s.signed(creds{rootKey, "wrong-secret-access-key", ""}, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil)
	wantErrorDocument(t, r, 403, nsSTS, "Sender", "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	r = s.signed(creds{"AKIANOBODYNOBODYNOBO", "nobody-secret-key", ""}, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil)
	wantErrorDocument(t, r, 403, nsSTS, "Sender", "InvalidClientTokenId", "The security token included in the request is invalid.")
}

func TestResultDocuments(t *testing.T) {
	s := start(t, true)
	r := s.signed(root, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil)
	id := r.Header.Get("X-Amzn-Requestid")
	want := `<GetCallerIdentityResponse xmlns="` + nsSTS + `"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:root</Arn>` +
		`<UserId>111122223333</UserId><Account>111122223333</Account></GetCallerIdentityResult>` +
		`<ResponseMetadata><RequestId>` + id + `</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if r.Status != 200 || r.Body != want || r.Header.Get("Content-Type") != "text/xml" {
		t.Fatalf("HTTP %d\n%s\nwant\n%s", r.Status, r.Body, want)
	}

	r = s.signed(root, "iam", "Action=CreateUser&Version=2010-05-08&UserName=alice", nil)
	re := regexp.MustCompile(`^<CreateUserResponse xmlns="` + regexp.QuoteMeta(nsIAM) + `"><CreateUserResult><User><Path>/</Path><UserName>alice</UserName>` +
		`<UserId>AIDA[A-Z2-7]{17}</UserId><Arn>arn:aws:iam::111122223333:user/alice</Arn><CreateDate>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</CreateDate>` +
		`</User></CreateUserResult><ResponseMetadata><RequestId>[0-9a-f-]{36}</RequestId></ResponseMetadata></CreateUserResponse>$`)
	if r.Status != 200 || !re.MatchString(r.Body) {
		t.Fatalf("CreateUser: HTTP %d\n%s", r.Status, r.Body)
	}
	// An empty list is present, an action without output has no Result.
	r = s.signed(root, "iam", "Action=ListUserPolicies&Version=2010-05-08&UserName=alice", nil)
	if !strings.Contains(r.Body, "<ListUserPoliciesResult><PolicyNames></PolicyNames><IsTruncated>false</IsTruncated></ListUserPoliciesResult>") {
		t.Fatalf("ListUserPolicies:\n%s", r.Body)
	}
	r = s.signed(root, "iam", "Action=DeleteUser&Version=2010-05-08&UserName=alice", nil)
	if want := `<DeleteUserResponse xmlns="` + nsIAM + `"><ResponseMetadata><RequestId>` + r.Header.Get("X-Amzn-Requestid") +
		`</RequestId></ResponseMetadata></DeleteUserResponse>`; r.Status != 200 || r.Body != want {
		t.Fatalf("DeleteUser: HTTP %d\n%s", r.Status, r.Body)
	}
	// A GET with the parameters in the query string works as STS allows.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
	if err := v4.NewSigner().SignHTTP(bg, aws.Credentials{AccessKeyID: rootKey, SecretAccessKey: rootSecret}, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
		Arn     string `xml:"GetCallerIdentityResult>Arn"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || doc.Arn != "arn:aws:iam::111122223333:root" {
		t.Fatalf("GET GetCallerIdentity: HTTP %d %+v %v", resp.StatusCode, doc, err)
	}
	resp.Body.Close()
}

func TestRoutingKeepsKMSAndQueryAPIsApart(t *testing.T) {
	s := start(t, true)
	// A KMS call signed for another service is a KMS signature error.
	body := `{}`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(bg, aws.Credentials{AccessKeyID: rootKey, SecretAccessKey: rootSecret}, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"__type":"InvalidSignatureException"`) || !strings.Contains(string(b), "Credential should be scoped to correct service: 'kms'") {
		t.Fatalf("KMS call scoped to iam: HTTP %d %s", resp.StatusCode, b)
	}
	// A query call scoped to another service is not served by the query API.
	r := s.signed(root, "s3", "Action=ListUsers&Version=2010-05-08", nil)
	if r.Status != 400 || !strings.Contains(r.Body, `"__type"`) {
		t.Fatalf("query call scoped to s3: HTTP %d %s", r.Status, r.Body)
	}
	// KMS works beside IAM and STS on the same endpoint.
	must(s.kms(root).ListKeys(bg, &kms.ListKeysInput{}))(t)
	must(s.iam(root).ListUsers(bg, &iam.ListUsersInput{}))(t)
	must(s.sts(root).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))(t)
}

// TestEveryRequestIsAuditedAndNoSecretLeaks makes successful, refused and
// unauthenticated calls; each has exactly one record with its request ID,
// and no secret access key or session token appears in the audit log or
// the server's log.
func TestEveryRequestIsAuditedAndNoSecretLeaks(t *testing.T) {
	s := start(t, true)
	var ids []string
	note := func(r rawResponse) rawResponse {
		ids = append(ids, r.Header.Get("X-Amzn-Requestid"))
		return r
	}
	note(s.signed(root, "iam", "Action=CreateUser&Version=2010-05-08&UserName=alice", nil))
	keyDoc := note(s.signed(root, "iam", "Action=CreateAccessKey&Version=2010-05-08&UserName=alice", nil))
	var key struct {
		ID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		Secret string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	if err := xml.Unmarshal([]byte(keyDoc.Body), &key); err != nil || key.Secret == "" {
		t.Fatalf("CreateAccessKey: %v\n%s", err, keyDoc.Body)
	}
	alice := creds{key.ID, key.Secret, ""}
	note(s.signed(root, "iam", "Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument="+
		strings.ReplaceAll(trustPolicy("arn:aws:iam::111122223333:user/alice"), `"`, "%22"), nil))
	sessDoc := note(s.signed(alice, "sts", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/r&RoleSessionName=s1", nil))
	var sess struct {
		ID     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token  string `xml:"AssumeRoleResult>Credentials>SessionToken"`
	}
	if err := xml.Unmarshal([]byte(sessDoc.Body), &sess); err != nil || sess.Token == "" {
		t.Fatalf("AssumeRole: %v\n%s", err, sessDoc.Body)
	}
	session := creds{sess.ID, sess.Secret, sess.Token}
	note(s.signed(session, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil))
	note(s.signed(creds{session.key, session.secret, session.token + "x"}, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil))
	note(s.signed(root, "sts", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/r&RoleSessionName=s2", nil))
	note(s.signed(root, "iam", "Action=Nothing&Version=2010-05-08", nil))
	note(s.post("Action=ListUsers&Version=2010-05-08", nil))

	raw := s.auditBytes()
	for name, secret := range map[string]string{"access key secret": alice.secret, "session secret": session.secret, "session token": session.token} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the audit log holds a %s", name)
		}
		if strings.Contains(s.Logs.String(), secret) {
			t.Errorf("the server log holds a %s", name)
		}
	}
	count := map[string]int{}
	var sources = map[string]string{}
	for _, rec := range s.readAudit() {
		id := rec["requestID"].(string)
		count[id]++
		sources[id] = rec["eventSource"].(string) + " " + rec["eventName"].(string)
	}
	for i, id := range ids {
		if count[id] != 1 {
			t.Errorf("request %d (%s): %d audit records", i, id, count[id])
		}
	}
	if sources[ids[0]] != "iam.amazonaws.com CreateUser" || sources[ids[3]] != "sts.amazonaws.com AssumeRole" {
		t.Errorf("event sources %q, %q", sources[ids[0]], sources[ids[3]])
	}
}

// failingAuditor cannot keep records.
type failingAuditor struct{}

func (failingAuditor) Append(*audit.Event) error { return errors.New("disk full") }

func TestNoAnswerWithoutAnAuditRecord(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(identity.Config{Store: st, Sealer: sl})
	h, err := iamapi.New(iamapi.Config{Identities: ids, Auth: api.Permissive{AccountID: account, DefaultRegion: "us-east-1"}, Audit: failingAuditor{}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeQuery(w, r, "iam") }))
	defer hs.Close()
	s := &server{t: t, URL: hs.URL}
	if _, err := ids.CreateUser(context.Background(), account, identity.CreateUserInput{UserName: "alice"}); err != nil {
		t.Fatal(err)
	}
	r := s.signed(root, "iam", "Action=CreateAccessKey&Version=2010-05-08&UserName=alice", nil)
	wantErrorDocument(t, r, 500, nsIAM, "Receiver", "ServiceFailure", "An internal error occurred.")
}
