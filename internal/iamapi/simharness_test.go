package iamapi_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/authz"
	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/identity"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// A second account, with its root's access key.
const (
	accountB    = "444455556666"
	rootKeyB    = "AKIAI44QH8DHBEXAMPLE"
	rootSecretB = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
)

var rootB = creds{rootKeyB, rootSecretB, ""}

// startEnforced runs the IAM, STS and KMS APIs as `kmsd dev --enforce`
// wires them: signatures verified, key and identity policies enforced,
// and SimulatePrincipalPolicy deciding on keys with the key service, or
// with keys when given.
func startEnforced(t *testing.T, keys ...iamapi.KeyExplainer) *server {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	al, err := audit.OpenFile(auditPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol := &authz.Policies{}
	ids := identity.New(identity.Config{Store: st, Sealer: sl, Policies: pol, Trust: pol})
	pol.Store = ids
	for _, a := range []struct{ acct, key, secret string }{{account, rootKey, rootSecret}, {accountB, rootKeyB, rootSecretB}} {
		if err := ids.Init(bg, a.acct); err != nil {
			t.Fatal(err)
		}
		if err := ids.EnsureAccessKey(bg, a.acct, "", a.key, secret.Bytes(a.secret)); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: kmscore.PolicyAuthorizer{Identities: pol}})
	if err != nil {
		t.Fatal(err)
	}
	cr := api.Identities{Store: ids}
	auth := api.Strict{Verifier: &sigv4.Verifier{Credentials: cr, Services: []string{"kms"}}, Principals: cr}
	queryAuth := api.Strict{Verifier: &sigv4.Verifier{Credentials: cr, Services: []string{"iam", "sts"}}, Principals: cr}
	var explainer iamapi.KeyExplainer = svc
	if len(keys) > 0 {
		explainer = keys[0]
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	query, err := iamapi.New(iamapi.Config{Identities: ids, Auth: queryAuth, Audit: al, Logger: log, Authorizer: pol, Keys: explainer})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: al, Logger: log, Query: query})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	s := &server{t: t, URL: hs.URL, IDs: ids, AuditPath: auditPath, Logs: logs}
	s.stop = func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// simulate runs SimulatePrincipalPolicy and fails the test on an error.
func simulate(t *testing.T, c *iam.Client, in *iam.SimulatePrincipalPolicyInput) []types.EvaluationResult {
	t.Helper()
	out, err := c.SimulatePrincipalPolicy(context.Background(), in)
	if err != nil {
		t.Fatalf("SimulatePrincipalPolicy %s %v on %v: %v", aws.ToString(in.PolicySourceArn), in.ActionNames, in.ResourceArns, err)
	}
	return out.EvaluationResults
}

// stmtAt returns where the statement holding marker starts in doc: its
// opening brace, as 1-based line and column.
func stmtAt(t *testing.T, doc, marker string) types.Position {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("%q is not in the policy", marker)
	}
	brace := strings.LastIndexByte(doc[:i], '{')
	line := strings.Count(doc[:brace], "\n") + 1
	col := brace - strings.LastIndexByte(doc[:brace], '\n')
	return types.Position{Line: int32(line), Column: int32(col)}
}

func ecEntry(k, v string) types.ContextEntry {
	return types.ContextEntry{ContextKeyName: aws.String("kms:EncryptionContext:" + k), ContextKeyValues: []string{v}, ContextKeyType: types.ContextKeyTypeEnumString}
}

// newKey creates a key with a policy as the root.
func (s *server) newKey(policy string) string {
	s.t.Helper()
	out, err := s.kms(root).CreateKey(bg, &kms.CreateKeyInput{Policy: aws.String(policy)})
	if err != nil {
		s.t.Fatalf("CreateKey: %v", err)
	}
	return *out.KeyMetadata.Arn
}
