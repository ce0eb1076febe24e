package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/sdkhttp"
)

// staleBound is the staleness bound the README states: how long after a
// change is acknowledged by one node another may still act on the old
// state. The cluster package enforces it (its Window, 1s) even when a
// node's invalidation connection dies silently.
const staleBound = time.Second

// TestCluster runs kmsd serve nodes on one throwaway PostgreSQL, through
// the AWS SDK, as a user would: they act as one KMS, survive the loss of a
// node, of the jobs leader and of PostgreSQL itself.
func TestCluster(t *testing.T) {
	pg := startPostgres(t)
	t.Run("ThreeNodesAreOneKMS", func(t *testing.T) { testThreeNodes(t, pg) })
	t.Run("ChangesReachEveryNodeWithinTheBound", func(t *testing.T) { testStaleness(t, pg) })
	t.Run("CachedCryptoMakesNoRoundTrip", func(t *testing.T) { testCachedCryptoMakesNoRoundTrip(t, pg) })
	t.Run("EachNodeHasItsOwnVerifiableTrail", func(t *testing.T) { testEachNodeVerifies(t, pg) })
	t.Run("AnotherRootKeyIsRefused", func(t *testing.T) { testAnotherRootKey(t, pg) })
	t.Run("NodeKilledUnderWriteLoad", func(t *testing.T) { testNodeKilled(t, pg) })
	t.Run("JobsMoveWhenTheLeaderDies", func(t *testing.T) { testLeaderKilled(t, pg) })
	t.Run("PostgresRestartUnderLoad", func(t *testing.T) { testPostgresRestart(t, pg) })
	t.Run("ReadmeClusterBlock", func(t *testing.T) { testReadmeCluster(t, pg) })
}

// testThreeNodes: a key made on A is used on B and C; aliases, grants,
// policies, tags, rotation and IAM users made on one node are seen by the
// others; 16 concurrent CreateAlias of one name across the nodes leave
// exactly one winner.
func testThreeNodes(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	nodes := startCluster(t, pg.store(t), 3)
	a, b, c := nodes[0].kms(), nodes[1].kms(), nodes[2].kms()

	created, err := a.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("made on A"), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("pay")}}})
	if err != nil {
		t.Fatal(err)
	}
	keyID := *created.KeyMetadata.KeyId
	enc, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("card 4111")})
	if err != nil {
		t.Fatalf("Encrypt on B with a key made on A: %v", err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "card 4111" {
		t.Fatalf("Decrypt on C of B's ciphertext: %q, %v", dec.Plaintext, err)
	}
	if _, err := c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &keyID, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &keyID}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "rotation made on C seen on A", func() bool {
		r, err := a.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: &keyID})
		return err == nil && len(r.Rotations) == 1
	})
	rot, err := b.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &keyID})
	if err != nil || !rot.KeyRotationEnabled || aws.ToInt32(rot.RotationPeriodInDays) != 90 {
		t.Fatalf("rotation status on B: %+v, %v", rot, err)
	}
	// The rotated material serves on every node; the old still decrypts.
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatalf("Decrypt on C after the rotation: %v", err)
	}
	tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &keyID})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" {
		t.Fatalf("tags on C: %+v, %v", tags, err)
	}

	// An IAM user made on A signs requests to C; a grant made on B lets
	// it encrypt on C; deleting its access key on B locks it out of A.
	admin := nodes[0].as(docKey, docSecret, "")
	user := newUser(t, nodes[0].proc, admin, "app", "")
	k, err := admin.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("app")})
	if err != nil || len(k.AccessKeyMetadata) != 1 {
		t.Fatalf("ListAccessKeys: %+v, %v", k, err)
	}
	userOn := func(n *clusterNode) *kms.Client {
		creds := user.kms.Options().Credentials
		return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
	}
	if _, err := userOn(nodes[2]).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("app before any grant on C: %v, want AccessDeniedException", err)
	}
	grant, err := b.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String("arn:aws:iam::" + acctA + ":user/app"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*staleBound, "grant made on B honoured on C", func() bool {
		_, err := userOn(nodes[2]).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		return err == nil
	})
	grants, err := c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: &keyID})
	if err != nil || len(grants.Grants) != 1 || *grants.Grants[0].GrantId != *grant.GrantId {
		t.Fatalf("grants on C: %+v, %v", grants, err)
	}
	if _, err := a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: &keyID, GrantId: grant.GrantId}); err != nil {
		t.Fatal(err)
	}
	revoked := eventually(t, 5*staleBound, "grant revoked on A refused on C", func() bool {
		_, err := userOn(nodes[2]).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		return errCode(err) == "AccessDeniedException"
	})
	t.Logf("RevokeGrant on A to AccessDeniedException on C: %v", revoked)
	if _, err := admin.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: k.AccessKeyMetadata[0].AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*staleBound, "access key deleted on A refused on C", func() bool {
		_, err := userOn(nodes[2]).Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
		return errCode(err) == "UnrecognizedClientException"
	})

	// 16 concurrent CreateAlias of one name across the nodes: one wins.
	clients := []*kms.Client{a, b, c}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	codes := map[string]int{}
	for i := range 16 {
		wg.Go(func() {
			target := keyID
			if i%2 == 1 {
				target = ""
			}
			if target == "" {
				k, err := clients[i%3].CreateKey(ctx, &kms.CreateKeyInput{})
				if err != nil {
					t.Error(err)
					return
				}
				target = *k.KeyMetadata.KeyId
			}
			_, err := clients[i%3].CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/race"), TargetKeyId: &target})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, target)
			} else {
				codes[errCode(err)]++
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || codes["AlreadyExistsException"] != 15 {
		t.Fatalf("16 concurrent CreateAlias: %d won, errors %v; want 1 and 15 AlreadyExistsException", len(won), codes)
	}
	for i, cl := range clients {
		d, err := cl.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/race")})
		if err != nil || *d.KeyMetadata.KeyId != won[0] {
			t.Fatalf("alias/race on node %d: %v, %v; want %s", i, d, err, won[0])
		}
	}
	// Each node keeps its own audit log, named by its node id.
	for _, n := range nodes {
		path := filepath.Join(n.data, "audit", "kmsd-audit-"+n.nodeID(t)+".jsonl")
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Fatalf("node %s has no audit log at %s: %v", n.url, path, err)
		}
	}
}

// testStaleness measures how long after one node acknowledges a change
// another node still acts on the old state, for DisableKey, RevokeGrant
// and PutKeyPolicy, and holds it to the stated bound: no request to B that
// starts later than the bound after A's acknowledgement may still get the
// old answer.
func testStaleness(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	nodes := startCluster(t, pg.store(t), 2)
	a, b := nodes[0].kms(), nodes[1].kms()
	k, err := a.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.KeyMetadata.KeyId
	encryptWith := func(c *kms.Client) func() error {
		return func() error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
			return err
		}
	}
	// stale makes change on A, then calls probe on B until it answers
	// want. It returns how long after A's acknowledgement the last probe
	// that still got the old answer started (0 if none did), and when the
	// first new answer came.
	stale := func(what, want string, probe, change func() error) (last, refused time.Duration) {
		t.Helper()
		if err := probe(); err != nil {
			t.Fatalf("%s: B before the change: %v (B must hold the key warm)", what, err)
		}
		if err := change(); err != nil {
			t.Fatal(err)
		}
		acked := time.Now()
		for {
			started := time.Since(acked)
			err := probe()
			if errCode(err) == want {
				return last, time.Since(acked)
			}
			if err != nil {
				t.Fatalf("%s: B answered %v, want success (old state) or %s", what, err, want)
			}
			last = started
			if started > 5*staleBound {
				t.Fatalf("%s: B still answers with the old state %v after the change", what, started)
			}
		}
	}
	check := func(what string, last, refused time.Duration) {
		t.Helper()
		t.Logf("%s: B's first answer with the new state came %v after A acknowledged the change; the last with the old state started %v after it (bound %v)",
			what, refused, last, staleBound)
		if last > staleBound {
			t.Errorf("%s: B acted on the old state %v after the change; the stated bound is %v", what, last, staleBound)
		}
	}

	var worst, worstRefused time.Duration
	const rounds = 10
	for range rounds {
		last, refused := stale("DisableKey", "DisabledException", encryptWith(b), func() error {
			_, err := a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: keyID})
			return err
		})
		worst, worstRefused = max(worst, last), max(worstRefused, refused)
		if _, err := a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: keyID}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*staleBound, "EnableKey seen on B", func() bool { return encryptWith(b)() == nil })
	}
	check(fmt.Sprintf("DisableKey, worst of %d rounds", rounds), worst, worstRefused)

	admin := nodes[0].as(docKey, docSecret, "")
	user := newUser(t, nodes[0].proc, admin, "app", "")
	userOnB := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(nodes[1].url), Credentials: user.kms.Options().Credentials, RetryMaxAttempts: 1, HTTPClient: sdkhttp.New()})
	grant, err := a.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: keyID, GranteePrincipal: aws.String("arn:aws:iam::" + acctA + ":user/app"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*staleBound, "the grant seen on B", func() bool { return encryptWith(userOnB)() == nil })
	last, refused := stale("RevokeGrant", "AccessDeniedException", encryptWith(userOnB), func() error {
		_, err := a.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: keyID, GrantId: grant.GrantId})
		return err
	})
	check("RevokeGrant", last, refused)

	deny := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"no-encrypt","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + acctA + `:root"},"Action":"kms:Encrypt","Resource":"*"}]}`
	last, refused = stale("PutKeyPolicy", "AccessDeniedException", encryptWith(b), func() error {
		_, err := a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: keyID, Policy: &deny})
		return err
	})
	check("PutKeyPolicy", last, refused)
}
