package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/audit"
	kmscore "github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// Two accounts: A owns the keys, B's principals get grants on them.
const (
	grantAcctB = "444455556666"
	rootA      = "arn:aws:iam::" + testAccount + ":root"
	rootB      = "arn:aws:iam::" + grantAcctB + ":root"
	bobB       = "arn:aws:iam::" + grantAcctB + ":user/bob"
	carolB     = "arn:aws:iam::" + grantAcctB + ":user/carol"
	appRoleB   = "arn:aws:iam::" + grantAcctB + ":role/service/app"
	appSession = "arn:aws:sts::" + grantAcctB + ":assumed-role/app/build-17"
)

// grantPrincipals signs requests for several principals of two accounts,
// one access key each.
type grantPrincipals map[string]kmscore.Caller

var grantCallers = func() grantPrincipals {
	p := grantPrincipals{}
	for i, arn := range []string{rootA, rootB, bobB, carolB, appSession} {
		acct := strings.Split(arn, ":")[4]
		c := kmscore.Caller{AccountID: acct, ARN: arn, PrincipalID: fmt.Sprintf("AIDAGRANTTEST%07d", i), Type: "IAMUser"}
		switch {
		case strings.HasSuffix(arn, ":root"):
			c.Type, c.PrincipalID = "Root", acct
		case strings.Contains(arn, "assumed-role"):
			c.Type = "AssumedRole"
		}
		p[fmt.Sprintf("AKIAGRANTTEST%07d", i)] = c
	}
	return p
}()

func grantSecretOf(akid string) string { return "grant-test-secret/" + akid + "/0123456789" }

func (p grantPrincipals) SigningSecret(_ context.Context, akid string) (sigv4.Secret, error) {
	if _, ok := p[akid]; !ok {
		return sigv4.Secret{}, sigv4.ErrUnknownAccessKey
	}
	return sigv4.Secret{Key: secret.Bytes(grantSecretOf(akid))}, nil
}

func (p grantPrincipals) Principal(_ context.Context, akid string) (kmscore.Caller, error) {
	c, ok := p[akid]
	if !ok {
		return kmscore.Caller{}, errors.New("unknown access key")
	}
	return c, nil
}

// grantAuthorizer stands in for the policy authorizer: principals of a
// key's own account may use it; others only what a grant allows.
type grantAuthorizer struct{}

func (grantAuthorizer) Authorize(_ context.Context, r *kmscore.AuthzRequest) error {
	if r.Key == nil || r.GrantAllows || r.Caller.AccountID == r.Key.AccountID {
		return nil
	}
	return kmscore.AccessDenied(r.Caller, r.Action, r.Key.ARN, "because no resource-based policy allows the "+r.Action+" action")
}

// grantServer is a strict-mode server over dir with grantAuthorizer, and a
// client per principal.
type grantServer struct {
	*testServer
	clients map[string]*kms.Client
}

func startGrantServer(t *testing.T, dir string) *grantServer {
	t.Helper()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	st, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.OpenFile(filepath.Join(dir, "root.key"))
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.jsonl")
	al, err := audit.OpenFile(auditPath, audit.Options{})
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	svc, err := kmscore.New(kmscore.Config{Store: st, Sealer: sl, Authorizer: grantAuthorizer{}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	// Signatures are checked against the wall clock, so tests may move the
	// service's clock (deletion windows) and keep signing.
	auth := api.Strict{Verifier: &sigv4.Verifier{Credentials: grantCallers}, Principals: grantCallers}
	srv, err := api.New(api.Config{Service: svc, Auth: auth, Audit: al, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	gs := &grantServer{
		testServer: &testServer{t: t, URL: hs.URL, Clock: clock, Service: svc, AuditPath: auditPath},
		clients:    map[string]*kms.Client{},
	}
	gs.stop = func() {
		hs.Close()
		if err := al.Close(); err != nil {
			t.Errorf("close audit log: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	for akid, c := range grantCallers {
		gs.clients[c.ARN] = newClient(hs.URL, testRegion, akid, grantSecretOf(akid))
	}
	gs.Client = gs.clients[rootA]
	t.Cleanup(gs.Stop)
	return gs
}

func (s *grantServer) as(arn string) *kms.Client { return s.clients[arn] }

func (s *grantServer) newGrant(in *kms.CreateGrantInput) *kms.CreateGrantOutput {
	s.t.Helper()
	out, err := s.as(rootA).CreateGrant(bg, in)
	if err != nil {
		s.t.Fatalf("CreateGrant: %v", err)
	}
	return out
}

func TestGrantsAcrossAccounts(t *testing.T) {
	s := startGrantServer(t, t.TempDir())
	key := *s.createKey("shared").Arn
	ec := map[string]string{"Department": "IT"}

	// Without a grant, account B may not use A's key.
	_, err := s.as(bobB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: ec})
	wantError(t, err, "AccessDeniedException", "User: "+bobB+" is not authorized to perform: kms:Encrypt on resource: "+key+" because no resource-based policy allows the kms:Encrypt action")

	g := s.newGrant(&kms.CreateGrantInput{
		KeyId: &key, GranteePrincipal: aws.String(bobB), RetiringPrincipal: aws.String(carolB), Name: aws.String("bob-it"),
		Operations:  []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt, types.GrantOperationDescribeKey},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: ec},
	})
	if len(*g.GrantId) != 64 || len(*g.GrantToken) < 100 {
		t.Fatalf("CreateGrant answer %q %q", *g.GrantId, *g.GrantToken)
	}

	// The grant works at once, with or without its token.
	enc, err := s.as(bobB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("for bob"), EncryptionContext: map[string]string{"Department": "IT", "Doc": "7"}})
	if err != nil {
		t.Fatalf("Encrypt through the grant: %v", err)
	}
	dec, err := s.as(bobB).Decrypt(bg, &kms.DecryptInput{KeyId: &key, CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"Department": "IT", "Doc": "7"}, GrantTokens: []string{*g.GrantToken}})
	if err != nil || string(dec.Plaintext) != "for bob" {
		t.Fatalf("Decrypt through the grant: %v", err)
	}
	if _, err := s.as(bobB).DescribeKey(bg, &kms.DescribeKeyInput{KeyId: &key}); err != nil {
		t.Fatalf("DescribeKey through the grant: %v", err)
	}
	// Outside the constraint, or outside the operations, the grant allows nothing.
	_, err = s.as(bobB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: map[string]string{"Department": "HR"}})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.as(bobB).GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: &key, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.as(bobB).ListGrants(bg, &kms.ListGrantsInput{KeyId: &key})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.as(carolB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")

	// Every GrantListEntry field, as the SDK reads it.
	list, err := s.as(rootA).ListGrants(bg, &kms.ListGrantsInput{KeyId: s.describe(key).KeyId})
	if err != nil || len(list.Grants) != 1 || list.Truncated {
		t.Fatalf("ListGrants: %v %+v", err, list)
	}
	e := list.Grants[0]
	if *e.KeyId != key || *e.GrantId != *g.GrantId || *e.Name != "bob-it" || !e.CreationDate.Equal(s.Clock.Now()) ||
		*e.GranteePrincipal != bobB || *e.RetiringPrincipal != carolB || *e.IssuingAccount != rootA ||
		!slices.Equal(e.Operations, []types.GrantOperation{"Encrypt", "Decrypt", "DescribeKey"}) ||
		e.Constraints == nil || e.Constraints.EncryptionContextSubset["Department"] != "IT" || e.Constraints.EncryptionContextEquals != nil ||
		e.GranteeServicePrincipal != nil || e.RetiringServicePrincipal != nil {
		t.Fatalf("grant entry %+v", e)
	}

	// The retiring principal finds the grant and retires it by its token;
	// the grantee's next request fails.
	ret, err := s.as(carolB).ListRetirableGrants(bg, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(carolB)})
	if err != nil || len(ret.Grants) != 1 || *ret.Grants[0].GrantId != *g.GrantId || *ret.Grants[0].KeyId != key {
		t.Fatalf("ListRetirableGrants: %v %+v", err, ret)
	}
	_, err = s.as(bobB).RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	wantCode(t, err, "AccessDeniedException")
	if _, err := s.as(carolB).RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
		t.Fatalf("RetireGrant: %v", err)
	}
	_, err = s.as(bobB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.as(carolB).RetireGrant(bg, &kms.RetireGrantInput{KeyId: &key, GrantId: g.GrantId})
	wantError(t, err, "NotFoundException", "Grant ID "+*g.GrantId+" not found")
}

func TestGrantRevokeAndSessions(t *testing.T) {
	s := startGrantServer(t, t.TempDir())
	key := *s.createKey("k").Arn
	// A grant to a role (here with a path) serves every session of it.
	g := s.newGrant(&kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(appRoleB), Operations: []types.GrantOperation{"GenerateDataKey", "Decrypt"}})
	dk, err := s.as(appSession).GenerateDataKey(bg, &kms.GenerateDataKeyInput{KeyId: &key, NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatalf("GenerateDataKey as a session of the grantee role: %v", err)
	}
	if _, err := s.as(appSession).Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, KeyId: &key}); err != nil {
		t.Fatalf("Decrypt as a session of the grantee role: %v", err)
	}
	// RevokeGrant by the key's account takes effect on the next request.
	if _, err := s.as(bobB).RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId}); err == nil {
		t.Fatal("another account revoked the grant")
	}
	if _, err := s.as(rootA).RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId}); err != nil {
		t.Fatal(err)
	}
	_, err = s.as(appSession).Decrypt(bg, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, KeyId: &key})
	wantCode(t, err, "AccessDeniedException")
	_, err = s.as(rootA).RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &key, GrantId: g.GrantId})
	wantCode(t, err, "NotFoundException")
}

func TestGrantErrorsOnTheWire(t *testing.T) {
	s := startGrantServer(t, t.TempDir())
	key := *s.createKey("k").Arn
	root := s.as(rootA)
	enc := []types.GrantOperation{types.GrantOperationEncrypt}
	cases := []struct {
		name string
		in   *kms.CreateGrantInput
		code string
		msg  string
	}{
		{"principal not an ARN", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String("bob"), Operations: enc},
			"InvalidArnException", "ARN does not refer to a valid principal: bob"},
		{"group", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String("arn:aws:iam::444455556666:group/g"), Operations: enc},
			"InvalidArnException", "ARN does not refer to a valid principal: arn:aws:iam::444455556666:group/g"},
		{"two constraints", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), Operations: enc,
			Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}, EncryptionContextEquals: map[string]string{"a": "b"}}},
			"ValidationException", "More than one constraint supplied"},
		{"operation the key cannot do", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), Operations: []types.GrantOperation{"Sign", "Encrypt"}},
			"ValidationException", "Grant operations [Sign] are not valid for the KMS key " + key + " with key spec SYMMETRIC_DEFAULT and key usage ENCRYPT_DECRYPT."},
		{"unknown operation", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), Operations: []types.GrantOperation{"Nope"}},
			"ValidationException", ""},
		{"no grantee", &kms.CreateGrantInput{KeyId: &key, Operations: enc},
			"ValidationException", "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both."},
		{"alias", &kms.CreateGrantInput{KeyId: aws.String("alias/x"), GranteePrincipal: aws.String(bobB), Operations: enc},
			"InvalidArnException", "Key Aliases are not supported for this operation."},
		{"dry run", &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), Operations: enc, DryRun: aws.Bool(true)},
			"DryRunOperationException", "The request would have succeeded, but the DryRun option is set."},
	}
	for _, tc := range cases {
		_, err := root.CreateGrant(bg, tc.in)
		if tc.msg == "" {
			wantCode(t, err, tc.code)
		} else {
			wantError(t, err, tc.code, tc.msg)
		}
	}
	_, err := root.ListGrants(bg, &kms.ListGrantsInput{KeyId: &key, GrantId: aws.String("g")})
	wantCode(t, err, "InvalidGrantIdException")
	_, err = root.ListGrants(bg, &kms.ListGrantsInput{KeyId: &key, Marker: aws.String("bogus")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = root.RevokeGrant(bg, &kms.RevokeGrantInput{KeyId: &key, GrantId: aws.String(strings.Repeat("a", 64))})
	wantCode(t, err, "NotFoundException")
	_, err = root.RetireGrant(bg, &kms.RetireGrantInput{GrantToken: aws.String("bad-token")})
	wantCode(t, err, "InvalidGrantTokenException")
	_, err = root.Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), GrantTokens: []string{"bad-token"}})
	wantCode(t, err, "InvalidGrantTokenException")
	_, err = root.Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x"), GrantTokens: make([]string, 11)})
	wantCode(t, err, "ValidationException")
	// Nothing above made a grant.
	if out, err := root.ListGrants(bg, &kms.ListGrantsInput{KeyId: &key}); err != nil || len(out.Grants) != 0 {
		t.Fatalf("grants after refused requests: %v %+v", err, out)
	}
	s.disable(key)
	_, err = root.CreateGrant(bg, &kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), Operations: enc})
	wantError(t, err, "DisabledException", key+" is disabled.")
}

func TestGrantPaginators(t *testing.T) {
	s := startGrantServer(t, t.TempDir())
	key := *s.createKey("k").Arn
	other := *s.createKey("k2").Arn
	want := map[string]bool{}
	for i := range 23 {
		k := key
		if i%2 == 1 {
			k = other
		}
		g := s.newGrant(&kms.CreateGrantInput{KeyId: &k, GranteePrincipal: aws.String(bobB), RetiringPrincipal: aws.String(carolB), Operations: []types.GrantOperation{"Encrypt"}})
		if k == key {
			want[*g.GrantId] = true
		}
	}
	p := kms.NewListGrantsPaginator(s.as(rootA), &kms.ListGrantsInput{KeyId: &key, Limit: aws.Int32(5)})
	got, pages := map[string]bool{}, 0
	for p.HasMorePages() {
		out, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.Grants {
			got[*g.GrantId] = true
		}
	}
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListGrants paginator: %d pages, %d of %d grants", pages, len(got), len(want))
	}
	rp := kms.NewListRetirableGrantsPaginator(s.as(carolB), &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(carolB), Limit: aws.Int32(4)})
	n, pages := 0, 0
	for rp.HasMorePages() {
		out, err := rp.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(out.Grants)
	}
	if n != 23 || pages != 6 {
		t.Fatalf("ListRetirableGrants paginator: %d grants in %d pages", n, pages)
	}
	_, err := s.as(rootA).ListRetirableGrants(bg, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(carolB)})
	wantCode(t, err, "AccessDeniedException")
}

func TestGrantsKeptAcrossRestartAndDeletedWithTheKey(t *testing.T) {
	dir := t.TempDir()
	s := startGrantServer(t, dir)
	key := *s.createKey("k").Arn
	g := s.newGrant(&kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), RetiringPrincipal: aws.String(carolB), Name: aws.String("keep"), Operations: []types.GrantOperation{"Encrypt"}})
	s.Stop()

	s = startGrantServer(t, dir)
	if _, err := s.as(bobB).Encrypt(bg, &kms.EncryptInput{KeyId: &key, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("grant after a restart: %v", err)
	}
	again := s.newGrant(&kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), RetiringPrincipal: aws.String(carolB), Name: aws.String("keep"), Operations: []types.GrantOperation{"Encrypt"}})
	if *again.GrantId != *g.GrantId || *again.GrantToken == *g.GrantToken {
		t.Fatal("a retried CreateGrant after a restart made a new grant, or repeated the token")
	}
	s.scheduleDeletion(key, 7)
	s.Clock.Add(7*24*time.Hour + time.Second)
	if n, err := s.Service.DeleteDueKeys(bg); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys: %d %v", n, err)
	}
	out, err := s.as(carolB).ListRetirableGrants(bg, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(carolB)})
	if err != nil || len(out.Grants) != 0 {
		t.Fatalf("grants of a deleted key are still retirable: %v %+v", err, out)
	}
	_, err = s.as(carolB).RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken})
	wantCode(t, err, "NotFoundException")
}

func TestGrantAuditRecords(t *testing.T) {
	s := startGrantServer(t, t.TempDir())
	key := *s.createKey("k").Arn
	g := s.newGrant(&kms.CreateGrantInput{KeyId: &key, GranteePrincipal: aws.String(bobB), RetiringPrincipal: aws.String(carolB), Operations: []types.GrantOperation{"Encrypt"}, Name: aws.String("audited")})
	if _, err := s.as(rootA).ListGrants(bg, &kms.ListGrantsInput{KeyId: &key}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(carolB).RetireGrant(bg, &kms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
		t.Fatal(err)
	}
	recs := s.readAudit()
	b, err := os.ReadFile(s.AuditPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), *g.GrantToken) {
		t.Fatal("the audit log holds a grant token")
	}
	byName := map[string]map[string]any{}
	for _, r := range recs {
		byName[r["eventName"].(string)] = r
	}
	cg := byName["CreateGrant"]
	if el, _ := cg["responseElements"].(map[string]any); el["grantId"] != *g.GrantId {
		t.Errorf("CreateGrant responseElements %v", cg["responseElements"])
	}
	if p, _ := cg["requestParameters"].(map[string]any); p["granteePrincipal"] != bobB || p["name"] != "audited" {
		t.Errorf("CreateGrant requestParameters %v", cg["requestParameters"])
	}
	rg := byName["RetireGrant"]
	res, _ := rg["resources"].([]any)
	if len(res) != 1 || !strings.Contains(fmt.Sprint(res[0]), key) {
		t.Errorf("RetireGrant resources %v", rg["resources"])
	}
	if lg := byName["ListGrants"]; lg["readOnly"] != true {
		t.Errorf("ListGrants readOnly %v", lg["readOnly"])
	}
}
