package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/store/postgres/pgtest"
)

// runCluster compares kmsd serve on its bbolt file with one and two nodes
// on one PostgreSQL database: Encrypt, Decrypt and CreateKey at each
// concurrency, the load split evenly over the nodes. dsn is a PostgreSQL
// server to use (each setup gets a fresh schema in it), or "auto" to
// start a throwaway one.
func runCluster(bin string, dur time.Duration, levels, dsn string) error {
	ctx := context.Background()
	srv := &pgtest.Server{DSN: dsn}
	if dsn == "auto" {
		var err error
		if srv, err = pgtest.StartServer(ctx); err != nil {
			return err
		}
		defer srv.Close()
	}
	fmt.Printf("cluster: kmsd serve (SigV4, durable audit, quotas off), %d CPUs, %s per scenario; load split evenly over the nodes; CPU/req sums every kmsd process\n", runtime.NumCPU(), dur)
	fmt.Printf("%-26s %5s %10s %10s %10s %14s %8s\n", "setup and operation", "conc", "req/s", "p50", "p99", "server CPU/req", "errors")
	setups := []struct {
		name  string
		nodes int
		pg    bool
	}{{"bbolt", 1, false}, {"pg 1 node", 1, true}, {"pg 2 nodes", 2, true}}
	for _, s := range setups {
		store := ""
		if s.pg {
			schemaDSN, drop, err := srv.NewSchema(ctx)
			if err != nil {
				return err
			}
			defer func() { _ = drop(context.Background()) }()
			if store, err = postgresURL(schemaDSN); err != nil {
				return err
			}
		}
		nodes, err := startServe(bin, store, s.nodes)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		err = measureSetup(ctx, s.name, nodes, dur, levels)
		for _, n := range nodes {
			n.stop()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// startServe starts n serve nodes on store ("" for a bbolt node), the
// later ones with a copy of the first one's root keyring.
func startServe(bin, store string, n int) ([]*server, error) {
	base, err := os.MkdirTemp("", "kmsbench-cluster-")
	if err != nil {
		return nil, err
	}
	var nodes []*server
	for i := range n {
		dir := filepath.Join(base, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if i > 0 {
			key, err := os.ReadFile(filepath.Join(base, "0", "root.key"))
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, "root.key"), key, 0o600); err != nil {
				return nil, err
			}
		}
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"serve", "--listen", addr, "--data", dir, "--log-level", "warn", "--quotas", "off",
			"--root-access-key", accessKey, "--root-secret-key", secretKey}
		if store != "" {
			args = append(args, "--store", store)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s := &server{cmd: cmd, url: "http://" + addr}
		nodes = append(nodes, s)
		if err := s.waitHealthy(); err != nil {
			for _, n := range nodes {
				n.stop()
			}
			return nil, err
		}
	}
	return nodes, nil
}

// measureSetup runs the three scenarios at each concurrency on nodes.
func measureSetup(ctx context.Context, name string, nodes []*server, dur time.Duration, levels string) error {
	setup := client(nodes[0].url, 1)
	key, err := setup.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsbench")})
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	pt := make([]byte, 32)
	blob, err := setup.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: pt})
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	scenarios := []scenario{
		{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: pt})
			return err
		}},
		{"Decrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
			return err
		}},
		{"CreateKey", func(ctx context.Context, c *kms.Client) error {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			return err
		}},
	}
	for _, sc := range scenarios {
		sc.name = name + " " + sc.name
		for _, conc := range parseLevels(levels) {
			if err := measureNodes(ctx, nodes, sc, conc, dur); err != nil {
				return err
			}
		}
	}
	return nil
}

// measureNodes drives sc at concurrency conc for dur, worker w on node
// w mod len(nodes), and prints a row with the CPU time of all nodes.
func measureNodes(ctx context.Context, nodes []*server, sc scenario, conc int, dur time.Duration) error {
	clients := make([]*kms.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = client(n.url, conc)
	}
	for w := range conc {
		_ = sc.run(ctx, clients[w%len(nodes)])
	}
	cpu := func() (time.Duration, error) {
		var sum time.Duration
		for _, n := range nodes {
			c, err := n.cpuTime()
			if err != nil {
				return 0, err
			}
			sum += c
		}
		return sum, nil
	}
	cpu0, err := cpu()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var lastErr atomic.Value
	start := time.Now()
	stop := start.Add(dur)
	var wg sync.WaitGroup
	for w := range conc {
		c := clients[w%len(nodes)]
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := sc.run(ctx, c); err != nil {
					errs.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := cpu()
	if err != nil {
		return err
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	perReq := time.Duration(0)
	if n := len(lat) + int(errs.Load()); n > 0 {
		perReq = (cpu1 - cpu0) / time.Duration(n)
	}
	fmt.Printf("%-26s %5d %10.0f %10s %10s %14s %8d\n", sc.name, conc, float64(len(lat))/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), perReq.Round(100*time.Nanosecond), errs.Load())
	if e, ok := lastErr.Load().(string); ok {
		fmt.Printf("  last error: %s\n", e)
	}
	return nil
}

// postgresURL writes a DSN as the postgres:// URL kmsd --store takes.
func postgresURL(dsn string) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", err
	}
	q := url.Values{"host": {cfg.Host}, "port": {fmt.Sprint(cfg.Port)}}
	if cfg.TLSConfig == nil {
		q.Set("sslmode", "disable")
	}
	for k, v := range cfg.RuntimeParams {
		q.Set(k, v)
	}
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database, RawQuery: q.Encode()}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	return u.String(), nil
}
