package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/sdkhttp"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// pgServer is the PostgreSQL the cluster tests share: one throwaway
// cluster for TestCluster and its subtests (or the server named by
// KMSD_TEST_POSTGRES).
type pgServer struct{ *pgtest.Server }

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := pgtest.StartServer(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL for the cluster tests: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return &pgServer{s}
}

// store returns a postgres:// URL of a new, empty schema, dropped when t
// ends: the --store of one cluster.
func (s *pgServer) store(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	dsn, drop, err := s.NewSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if s.Cluster != nil && s.Cluster.Start(ctx) != nil {
			return // a restart test left it down and could not start it
		}
		if err := drop(ctx); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	return storeURL(t, dsn)
}

// storeURL writes a DSN as the postgres:// URL --store takes.
func storeURL(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"host": {cfg.Host}, "port": {fmt.Sprint(cfg.Port)}, "sslmode": {"disable"}}
	for k, v := range cfg.RuntimeParams {
		q.Set(k, v)
	}
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database, RawQuery: q.Encode()}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	return u.String()
}

// clusterNode is one kmsd serve process of a cluster.
type clusterNode struct {
	*proc
	data string
}

// startNode starts a node on store with data directory dir.
func startNode(t *testing.T, store, dir string, extra ...string) *clusterNode {
	t.Helper()
	args := append([]string{"serve", "--store", store, "--data", dir, "--quotas", "off", "--jobs-interval", "200ms",
		"--root-access-key", docKey, "--root-secret-key", docSecret}, extra...)
	n := &clusterNode{proc: startKMSD(t, args...), data: dir}
	n.waitReady(t)
	return n
}

// startCluster starts n nodes on store: the first alone, which makes the
// root keyring, then the others, each with a copy of it.
func startCluster(t *testing.T, store string, n int, extra ...string) []*clusterNode {
	t.Helper()
	first := startNode(t, store, t.TempDir(), extra...)
	key, err := os.ReadFile(filepath.Join(first.data, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*clusterNode{first}
	for range n - 1 {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "root.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startNode(t, store, dir, extra...))
	}
	return nodes
}

// waitReady waits until /readyz answers 200: the node listens for cache
// invalidations and its audit log is healthy.
func (n *clusterNode) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := readyz(t, n.proc)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not ready after 30s: %d %s\nstderr:\n%s", n.url, code, body, n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kms returns a root client of the node with a bounded timeout per call.
func (n *clusterNode) kms() *kms.Client {
	return kms.New(kms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(n.url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(docKey, docSecret, ""),
		HTTPClient:  sdkhttp.Wrap(&http.Client{Timeout: 15 * time.Second}),
	})
}

// nodeID returns the id the node recorded in its data directory.
func (n *clusterNode) nodeID(t *testing.T) string {
	t.Helper()
	id := recordedNodeID(n.data)
	if id == "" {
		t.Fatalf("node %s recorded no node id", n.data)
	}
	return id
}

// logEvent is one line of a node's JSON log.
type logEvent struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
}

// events returns the node's log lines whose message starts with prefix.
func (n *clusterNode) events(prefix string) []logEvent {
	var out []logEvent
	for _, line := range strings.Split(n.stderr.String(), "\n") {
		var e logEvent
		if json.Unmarshal([]byte(line), &e) == nil && strings.HasPrefix(e.Msg, prefix) {
			out = append(out, e)
		}
	}
	return out
}

const (
	msgLeads     = "cluster: this node leads"
	msgNoLonger  = "cluster: this node no longer leads"
	waitInterval = 5 * time.Millisecond
)

// leading returns the nodes whose last leadership line says they lead.
func leading(nodes []*clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, n := range nodes {
		start, end := n.events(msgLeads), n.events(msgNoLonger)
		if len(start) > len(end) {
			out = append(out, n)
		}
	}
	return out
}

// eventually polls cond every waitInterval until it holds, failing the
// test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(waitInterval)
	}
	return time.Since(start)
}
