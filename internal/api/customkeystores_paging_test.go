package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmscore "github.com/kmsd/kmsd/internal/kms"
)

// TestDescribeCustomKeyStoresPages: stores page by Limit and Marker, a
// filter by name finds one, and a store whose token is not configured any
// more fails to connect with CLUSTER_NOT_FOUND.
func TestDescribeCustomKeyStoresPages(t *testing.T) {
	s := newServer(t)
	clusters := fakeClusters{}
	ids := map[string]bool{}
	for _, c := range []string{"cluster-234567aaaaa", "cluster-234567bbbbb", "cluster-234567ccccc"} {
		clusters[c] = newFakeCluster(testPIN, "")
	}
	s.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{HSM: clusters})
	for i, c := range []string{"cluster-234567aaaaa", "cluster-234567bbbbb", "cluster-234567ccccc"} {
		ids[createHSMStore(t, s, "store-"+string(rune('a'+i)), c)] = true
	}
	seen := map[string]bool{}
	pages := 0
	for p := kms.NewDescribeCustomKeyStoresPaginator(s.Client, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(2)}); p.HasMorePages(); {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.CustomKeyStores) > 2 || (page.Truncated != (page.NextMarker != nil)) {
			t.Fatalf("page %d: %+v", pages, page)
		}
		for _, e := range page.CustomKeyStores {
			if seen[*e.CustomKeyStoreId] || !ids[*e.CustomKeyStoreId] {
				t.Fatalf("store %s listed twice or unknown", *e.CustomKeyStoreId)
			}
			seen[*e.CustomKeyStoreId] = true
		}
	}
	if pages != 2 || len(seen) != 3 {
		t.Fatalf("%d pages listing %d stores, want 2 pages of 3 stores", pages, len(seen))
	}
	out, err := s.Client.DescribeCustomKeyStores(bg, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("store-b")})
	if err != nil || len(out.CustomKeyStores) != 1 || *out.CustomKeyStores[0].CloudHsmClusterId != "cluster-234567bbbbb" {
		t.Fatalf("by name: %+v, %v", out, err)
	}
	// Past the quota of 10 stores per account and Region.
	for i := len(ids); i < 10; i++ {
		c := "cluster-234567dddd" + string(rune('a'+i))
		clusters[c] = newFakeCluster(testPIN, "")
		createHSMStore(t, s, "more-"+c, c)
	}
	clusters["cluster-234567eeeee"] = newFakeCluster(testPIN, "")
	_, err = s.Client.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("eleventh"), CloudHsmClusterId: aws.String("cluster-234567eeeee"), TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN)})
	wantCode(t, err, "LimitExceededException")

	// The token of a store no longer configured.
	id := *out.CustomKeyStores[0].CustomKeyStoreId
	delete(clusters, "cluster-234567bbbbb")
	if e := connectStore(t, s, id, types.ConnectionStateTypeFailed); e.ConnectionErrorCode != types.ConnectionErrorCodeTypeClusterNotFound {
		t.Fatalf("ConnectionErrorCode %q, want CLUSTER_NOT_FOUND", e.ConnectionErrorCode)
	}
}

// TestCustomKeyStoreAuthorization: the six operations are authorized by
// identity policies with their kms: actions, before anything about the
// store is looked at.
func TestCustomKeyStoreAuthorization(t *testing.T) {
	e := startEnforcing(t)
	const id = "cks-1234567890abcdef0"
	calls := map[string]func() error{
		"kms:CreateCustomKeyStore": func() error {
			_, err := e.alice.CreateCustomKeyStore(bg, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("s"), CloudHsmClusterId: aws.String(testCluster), TrustAnchorCertificate: aws.String(testAnchor), KeyStorePassword: aws.String(testPIN)})
			return err
		},
		"kms:UpdateCustomKeyStore": func() error {
			_, err := e.alice.UpdateCustomKeyStore(bg, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("n")})
			return err
		},
		"kms:DeleteCustomKeyStore": func() error {
			_, err := e.alice.DeleteCustomKeyStore(bg, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		},
		"kms:ConnectCustomKeyStore": func() error {
			_, err := e.alice.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		},
		"kms:DisconnectCustomKeyStore": func() error {
			_, err := e.alice.DisconnectCustomKeyStore(bg, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		},
	}
	for action, call := range calls {
		if msg := wantCode(t, call(), "AccessDeniedException"); !strings.Contains(msg, action) {
			t.Errorf("AccessDenied message %q does not name %s", msg, action)
		}
	}
	e.setIdentityPolicy(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateCustomKeyStore","kms:UpdateCustomKeyStore","kms:DeleteCustomKeyStore","kms:ConnectCustomKeyStore","kms:DisconnectCustomKeyStore"],"Resource":"*"}]}`)
	for action, call := range calls {
		want := "CustomKeyStoreNotFoundException"
		if action == "kms:CreateCustomKeyStore" {
			want = "CloudHsmClusterNotFoundException" // no token configured
		}
		wantCode(t, call(), want)
	}
}

// TestCustomKeyStoreSurvivesRestart: a CONNECTED store's keys work after a
// restart (the token is logged in to again on first use), and a store a
// stopped process left CONNECTING finishes connecting after the restart.
func TestCustomKeyStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	token, slow := newFakeCluster(testPIN, ""), newFakeCluster(testPIN, "")
	backends := kmscore.KeyStoreBackends{HSM: fakeClusters{testCluster: token, "cluster-234567slows": slow}}
	s := startServer(t, serverOptions{dir: dir})
	s.Service.SetKeyStoreBackends(backends)
	id := createHSMStore(t, s, "hsm", testCluster)
	connectStore(t, s, id, types.ConnectionStateTypeConnected)
	ck, err := s.Client.CreateKey(bg, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := s.Client.Encrypt(bg, &kms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("across restarts")})
	if err != nil {
		t.Fatal(err)
	}
	slow.gate = make(chan struct{})
	stuck := createHSMStore(t, s, "stuck", "cluster-234567slows")
	if _, err := s.Client.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(stuck)}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	gate := slow.gate

	slow2 := newFakeCluster(testPIN, "")
	s2 := startServer(t, serverOptions{dir: dir})
	s2.Service.SetKeyStoreBackends(kmscore.KeyStoreBackends{HSM: fakeClusters{testCluster: token, "cluster-234567slows": slow2}})
	close(gate) // the first process's attempt ends against a closed store
	dec, err := s2.Client.Decrypt(bg, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "across restarts" {
		t.Fatalf("Decrypt after a restart: %v", err)
	}
	// ConnectCustomKeyStore on a store left CONNECTING runs the attempt again.
	if _, err := s2.Client.ConnectCustomKeyStore(bg, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(stuck)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); slow2.logins.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ConnectCustomKeyStore did not resume the attempt a stopped process left")
		}
	}
	if e := waitStore(t, s2, stuck); e.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("store left CONNECTING is %s after a restart", e.ConnectionState)
	}
	s.Service.CloseKeyStores()
	s2.Service.CloseKeyStores()
}
