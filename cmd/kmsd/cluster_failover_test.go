package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// testAnotherRootKey: a node whose data directory holds no root keyring, or
// another one, is refused at start with a message that says to copy the
// cluster's root.key, and nothing is written. So is a second process with
// the node id of a running node.
func testAnotherRootKey(t *testing.T, pg *pgServer) {
	store := pg.store(t)
	first := startCluster(t, store, 1)[0]
	run := func(dir string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, kmsdBin, "serve", "--store", store, "--data", dir, "--listen", freeAddr(t)).CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("a node with the wrong root keyring started (or hung): %v\n%s", err, out)
		}
		return string(out)
	}
	missing := t.TempDir()
	out := run(missing)
	for _, want := range []string{"is missing, but this store holds records sealed by it", "copy root.key from the data directory of the node that created it"} {
		if !strings.Contains(out, want) {
			t.Errorf("start without root.key:\n%s\nwant %q", out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(missing, "root.key")); err == nil {
		t.Error("the refused node made a root keyring")
	}
	other := t.TempDir()
	if _, err := seal.Create(filepath.Join(other, "root.key")); err != nil {
		t.Fatal(err)
	}
	out = run(other)
	for _, want := range []string{"is not the one that sealed this store", "expected ", "found ", "Every node of a cluster holds the same root keyring"} {
		if !strings.Contains(out, want) {
			t.Errorf("start with another root.key:\n%s\nwant %q", out, want)
		}
	}
	twin := copyRootKey(t, first)
	id := first.nodeID(t)
	if err := os.WriteFile(filepath.Join(twin, nodeIDFile), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run(twin); !strings.Contains(out, "node "+id+" (recorded in") || !strings.Contains(out, "is already running on this store") {
		t.Errorf("a second process with a running node's id:\n%s", out)
	}
}

// writeLoad runs CreateKey from workers spread over the nodes until stop
// closes. A worker whose node fails retries the same call on the next
// node, as a client behind a load balancer would. It returns the key ids
// acknowledged, and how many calls succeeded after a retry elsewhere.
func writeLoad(ctx context.Context, nodes []*clusterNode, workers int, stop <-chan struct{}) (acked []string, failedOver int64, errs []error) {
	var mu sync.Mutex
	var moved atomic.Int64
	var wg sync.WaitGroup
	clients := make([]*kms.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = n.kms()
	}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for try := range 2 * len(nodes) {
					out, err := clients[(w+i+try)%len(nodes)].CreateKey(ctx, &kms.CreateKeyInput{})
					if err == nil {
						mu.Lock()
						acked = append(acked, *out.KeyMetadata.KeyId)
						mu.Unlock()
						if try > 0 {
							moved.Add(1)
						}
						break
					}
					if try == 2*len(nodes)-1 {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	return acked, moved.Load(), errs
}

// testNodeKilled: SIGKILL one of three nodes during a write load spread
// over all of them. Clients that retry succeed on another node, every
// acknowledged write is there afterwards, and every key that exists has
// its CreateKey record in some node's audit log: the records the dead node
// left in the outbox are shipped by the leader after the grace period.
func testNodeKilled(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	nodes := startCluster(t, pg.store(t), 3, "--outbox-grace", "2s")
	stop := make(chan struct{})
	var acked []string
	var moved int64
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		acked, moved, errs = writeLoad(ctx, nodes, 6, stop)
	}()
	time.Sleep(time.Second)
	nodes[1].kill()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-done
	if len(errs) > 0 {
		t.Fatalf("%d calls failed on every node, first: %v", len(errs), errs[0])
	}
	t.Logf("%d CreateKey acknowledged, %d of them after a retry on another node", len(acked), moved)
	if moved == 0 {
		t.Error("no call was retried on another node after the kill")
	}
	live := []*clusterNode{nodes[0], nodes[2]}
	for _, n := range live {
		list := listKeys(t, n)
		for _, id := range acked {
			if !list[id] {
				t.Fatalf("key %s, acknowledged, is missing on %s", id, n.url)
			}
		}
	}
	// At least once: every key in the store has its record in some log.
	keys := listKeys(t, nodes[0])
	var missing []string
	// The leader ships a dead node's records once they are older than the
	// grace period; on a loaded 2-core machine running the whole suite,
	// its term, the grace period and the appends can take longer than on
	// an idle one, so the bound is generous. A record that never comes
	// still fails the test.
	deadline := time.Now().Add(60 * time.Second)
	for {
		logged := createKeyRecords(t, nodes)
		missing = missing[:0]
		for id := range keys {
			if !logged[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a CreateKey record of every key in the nodes' audit logs: %d of %d keys have none after 60s; where their ids appear: %s",
				len(missing), len(keys), whereLogged(t, nodes, missing))
		}
		time.Sleep(waitInterval)
	}
}

// whereLogged says, for each id (at most five), which node's log lines
// name it at all, so a missing record can be told from one the test did
// not recognize.
func whereLogged(t *testing.T, nodes []*clusterNode, ids []string) string {
	t.Helper()
	var out []string
	for _, id := range ids[:min(len(ids), 5)] {
		var seen []string
		for i, n := range nodes {
			b, err := os.ReadFile(nodeAuditPath(n.data))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, id) {
					seen = append(seen, fmt.Sprintf("node %d: %.300s", i, line))
				}
			}
		}
		if len(seen) == 0 {
			seen = []string{"in no log"}
		}
		out = append(out, id+": "+strings.Join(seen, " | "))
	}
	for i, n := range nodes {
		for _, line := range strings.Split(n.stderr.String(), "\n") {
			if strings.Contains(line, "outbox") || strings.Contains(line, "stranded") || strings.Contains(line, "leader") {
				out = append(out, fmt.Sprintf("node %d says: %.300s", i, line))
			}
		}
	}
	return strings.Join(out, "; ")
}

func listKeys(t *testing.T, n *clusterNode) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	p := kms.NewListKeysPaginator(n.kms(), &kms.ListKeysInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			out[*k.KeyId] = true
		}
	}
	return out
}

// createKeyRecords returns the key ids named by CreateKey records in the
// audit logs of every node, the dead ones' included.
func createKeyRecords(t *testing.T, nodes []*clusterNode) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, n := range nodes {
		b, err := os.ReadFile(nodeAuditPath(n.data))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, `"eventName":"CreateKey"`) || strings.Contains(line, `"errorCode"`) {
				continue
			}
			if _, rest, ok := strings.Cut(line, `"keyId":"`); ok {
				id, _, _ := strings.Cut(rest, `"`)
				out[id] = true
			}
			// A record shipped from the outbox is the one known at commit:
			// the key it made is its resource.
			if _, rest, ok := strings.Cut(line, `"type":"AWS::KMS::Key","ARN":"`); ok && strings.Contains(line, `"kmsdRecoveredFromOutbox":true`) {
				arn, _, _ := strings.Cut(rest, `"`)
				if _, id, ok := strings.Cut(arn, ":key/"); ok {
					out[id] = true
				}
			}
		}
	}
	return out
}

// testLeaderKilled: one of three nodes leads the jobs; SIGKILL it and
// another takes over within a bounded time and runs them (imported key
// material expires on schedule); terms never overlap.
func testLeaderKilled(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	nodes := startCluster(t, pg.store(t), 3)
	var leader *clusterNode
	eventually(t, 10*time.Second, "one leader", func() bool {
		l := leading(nodes)
		if len(l) == 1 {
			leader = l[0]
		}
		return len(l) == 1
	})
	leader.kill()
	killed := time.Now()
	var live []*clusterNode
	for _, n := range nodes {
		if n != leader {
			live = append(live, n)
		}
	}
	took := eventually(t, 10*time.Second, "a new leader", func() bool { return len(leading(live)) == 1 })
	t.Logf("a new leader took over %v after the leader was killed", took)

	// The jobs run on the new leader: imported material expires.
	c := live[0].kms()
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	params, err := c.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: k.KeyMetadata.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live[1].kms().ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: k.KeyMetadata.KeyId, ImportToken: params.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: aws.Time(time.Now().Add(time.Second))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "imported material expired by the new leader's job", func() bool {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
		return err == nil && d.KeyMetadata.KeyState == types.KeyStatePendingImport
	})

	// Terms, from every node's log (the killed one's ends at its kill),
	// never overlap.
	type term struct {
		start, end time.Time
		node       string
	}
	var terms []term
	for _, n := range nodes {
		starts, ends := n.events(msgLeads), n.events(msgNoLonger)
		for i, s := range starts {
			end := time.Now()
			switch {
			case i < len(ends):
				end = ends[i].Time
			case n == leader:
				end = killed
			}
			terms = append(terms, term{s.Time, end, n.url})
		}
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i].start.Before(terms[j].start) })
	for i := 1; i < len(terms); i++ {
		if terms[i].start.Before(terms[i-1].end) {
			t.Errorf("%s led from %v while %s led until %v", terms[i].node, terms[i].start, terms[i-1].node, terms[i-1].end)
		}
	}
	if len(terms) < 2 {
		t.Errorf("terms %+v: want the killed leader's and its successor's", terms)
	}
}

// testPostgresRestart stops PostgreSQL under a load of Encrypt and CreateKey
// on two nodes: while it is down every call fails fast with
// DependencyTimeoutException and /readyz says why; once it is back the
// nodes recover by themselves, and every acknowledged write is there.
func testPostgresRestart(t *testing.T, pg *pgServer) {
	ctx := t.Context()
	srv := pg.Server
	if srv.Cluster == nil { // a server we may not stop: start our own
		c, err := pgtest.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		srv = &pgtest.Server{DSN: c.DSN("postgres"), Cluster: c}
	}
	store := (&pgServer{srv}).store(t)
	nodes := startCluster(t, store, 2)
	k, err := nodes[0].kms().CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []string
	var slowest time.Duration
	codes := map[string]int{}
	var down atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		c := nodes[w%2].kms()
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				var err error
				var id string
				if i%2 == 0 {
					_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
				} else {
					var out *kms.CreateKeyOutput
					if out, err = c.CreateKey(ctx, &kms.CreateKeyInput{}); err == nil {
						id = *out.KeyMetadata.KeyId
					}
				}
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				if id != "" {
					acked = append(acked, id)
				}
				if err != nil && down.Load() {
					codes[errCode(err)]++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if err := srv.Cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	eventually(t, 5*time.Second, "/readyz 503 on every node with PostgreSQL down", func() bool {
		for _, n := range nodes {
			if code, body := readyz(t, n.proc); code != http.StatusServiceUnavailable || !strings.Contains(body, "PostgreSQL") {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second)
	down.Store(false)
	if err := srv.Cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for _, n := range nodes {
		n.waitReady(t)
	}
	ready := time.Since(restarted)
	recovered := eventually(t, 15*time.Second, "Encrypt and CreateKey on every node after the restart", func() bool {
		for _, n := range nodes {
			if _, err := n.kms().Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")}); err != nil {
				return false
			}
			if _, err := n.kms().CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	t.Logf("errors while PostgreSQL was down: %v; slowest call %v; every node ready %v and serving %v after the restart", codes, slowest, ready, recovered)
	if len(codes) == 0 {
		t.Fatal("no call failed while PostgreSQL was down")
	}
	for code := range codes {
		if code != "DependencyTimeoutException" {
			t.Errorf("a call failed with %q while PostgreSQL was down, want DependencyTimeoutException", code)
		}
	}
	if slowest > 10*time.Second {
		t.Errorf("a call took %v: calls must fail fast while PostgreSQL is down", slowest)
	}
	for _, n := range nodes {
		list := listKeys(t, n)
		for _, id := range acked {
			if !list[id] {
				t.Fatalf("key %s, acknowledged, is missing on %s after the restart", id, n.url)
			}
		}
	}
}
