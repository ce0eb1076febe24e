package main

import (
	"bufio"
	"context"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/kmsd/kmsd/internal/audit"
)

// storeTransactions reads, from a node's metrics, how many store
// transactions it has run.
func storeTransactions(t *testing.T, admin string) int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "kmsd_store_transaction_duration_seconds_count") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatal(err)
		}
		n += int(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// testCachedCryptoMakesNoRoundTrip: once a node holds a key, Encrypt and
// Decrypt through it run no store transaction: the key, its policy, its
// grants and the caller's credentials come from memory, and read-only
// calls write nothing to the audit outbox.
func testCachedCryptoMakesNoRoundTrip(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	admin := freeAddr(t)
	store := pg.store(t)
	a := startCluster(t, store, 1)[0]
	b := startNode(t, store, copyRootKey(t, a), "--admin-listen", admin, "--jobs-interval", "1h")
	k, err := a.kms().CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	c := b.kms()
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("warm")})
	if err != nil {
		t.Fatal(err)
	}
	before := storeTransactions(t, admin)
	const calls = 200
	for i := range calls {
		var err error
		if i%2 == 0 {
			_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
		} else {
			_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A node that could not prove it hears every write within the window
	// (a long stall of a loaded machine) reads the store instead, which
	// is correct; a hot path that reads it on every call is not.
	if delta := storeTransactions(t, admin) - before; delta > calls/20 {
		t.Fatalf("%d cached Encrypt and Decrypt calls ran %d store transactions", calls, delta)
	} else {
		t.Logf("%d cached Encrypt and Decrypt calls ran %d store transactions", calls, delta)
	}
}

// copyRootKey makes a data directory holding a copy of n's root keyring.
func copyRootKey(t *testing.T, n *clusterNode) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("cp", "-p", n.data+"/root.key", dir+"/root.key")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy root.key: %v\n%s", err, out)
	}
	return dir
}

// testEachNodeVerifies: every node writes its own signed log and keeps its
// own anchor in the shared store; kmsd audit verify --data DIR --store
// checks each, and the one digest public key verifies them all.
func testEachNodeVerifies(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	store := pg.store(t)
	nodes := startCluster(t, store, 2)
	made := map[*clusterNode]string{}
	for _, n := range nodes {
		k, err := n.kms().CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		made[n] = *k.KeyMetadata.KeyId
	}
	for _, n := range nodes {
		n.stop()
	}
	verify := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, kmsdBin, append([]string{"audit", "verify"}, args...)...).CombinedOutput()
		return string(out), err
	}
	for i, n := range nodes {
		out, err := verify("--data", n.data, "--store", store)
		if err != nil {
			t.Fatalf("audit verify of node %d: %v\n%s", i, err, out)
		}
		for _, want := range []string{"hash chain intact", "signed digests:", "anchor: record seq"} {
			if !strings.Contains(out, want) {
				t.Errorf("audit verify of node %d:\n%s\nwant %q", i, out, want)
			}
		}
		// The node's own records are in its own log, not the other's.
		logged := createKeyRecords(t, []*clusterNode{n})
		other := nodes[1-i]
		if !logged[made[n]] || logged[made[other]] {
			t.Errorf("node %d's log: CreateKey of its own key %v, of the other node's %v", i, logged[made[n]], logged[made[other]])
		}
		// One signing key for the cluster: node 0's public key verifies
		// node 1's log.
		pub := nodeAuditPath(nodes[0].data) + audit.PublicKeySuffix
		if out, err := verify("--file", nodeAuditPath(n.data), "--public-key", pub); err != nil || !strings.Contains(out, "signed digests:") {
			t.Errorf("node %d's log with node 0's public key: %v\n%s", i, err, out)
		}
	}
	out, err := verify("--data", nodes[0].data)
	if err == nil || !strings.Contains(out, "give it with --store") {
		t.Errorf("audit verify of a cluster node without --store: %v\n%s", err, out)
	}
}
