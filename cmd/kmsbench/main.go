// Command kmsbench starts a kmsd server and drives it through the AWS SDK
// for Go, printing requests per second, p50 and p99 latency, and the
// server's CPU time per request (read from /proc), for each operation and
// concurrency level.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const (
	accessKey = "AKIAIOSFODNN7EXAMPLE"
	secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func main() {
	bin := flag.String("bin", "bin/kmsd", "kmsd binary to start")
	dur := flag.Duration("duration", 3*time.Second, "how long to drive each scenario")
	levels := flag.String("concurrency", "1,16,64", "comma-separated concurrency levels")
	enforce := flag.Bool("enforce", true, "run kmsd with SigV4 verification (dev --enforce)")
	baseline := flag.String("serve-baseline", "", "internal: serve a do-nothing JSON endpoint on this address (the baseline child)")
	compare := flag.Bool("baseline", true, "also measure a do-nothing Go net/http JSON server under the same load, for scale")
	authz := flag.Bool("authz", true, "also compare Encrypt in permissive dev mode with --enforce under a realistic key policy and 1,000 grants")
	auditCost := flag.Bool("audit", true, "also compare Encrypt with durable audit (the default) against records acknowledged when queued (--audit-async)")
	ops := flag.Bool("ops", true, "measure each operation (off: only the baseline and the authorization comparison)")
	extra := flag.String("kmsd-args", "", "extra space-separated arguments for kmsd (e.g. --admin-listen 127.0.0.1:6060)")
	lookups := flag.Int("lookup-events", 1000000, "also measure CloudTrail LookupEvents over an audit trail of this many records (0: skip)")
	decide := flag.Bool("decide", false, "measure the performance targets: interleaved rounds of kmsd and the do-nothing server, ratios, a JSON report (make bench)")
	rounds := flag.Int("rounds", 3, "decide: interleaved rounds (the order alternates each round)")
	warmup := flag.Duration("warmup", 2*time.Second, "decide, scale: unmeasured load before each sample")
	jsonOut := flag.String("json", "", "decide, scale: also write the results as JSON to this file")
	scaleKeys := flag.Int("scale", 0, "only measure Encrypt, Decrypt and DescribeKey on random keys among this many against a one-key server (make bench-scale)")
	scaleSeed := flag.Bool("scale-seed", true, "scale: make the keys with kmsd dev --seed (a generate entry) and measure CreateKey on a server of its own; -scale-seed=false makes every key with CreateKey")
	scaleBlobs := flag.Int("scale-blobs", 0, "scale: how many ciphertexts Decrypt picks from, one under each of that many keys (0: every key, so Decrypt too meets keys the cache does not hold)")
	scaleCreate := flag.Int("scale-create", 100000, "scale, with -scale-seed: how many keys CreateKey makes to measure its rate")
	clusterDSN := flag.String("cluster", "", "only compare serve on bbolt with 1 and 2 nodes on PostgreSQL: a PostgreSQL DSN to use, or auto to start a throwaway server")
	cks := flag.Bool("cks", true, "decide: also compare Encrypt on a standard key, an AWS_CLOUDHSM key (SoftHSM2 token) and an EXTERNAL_KEY_STORE key (a second kmsd as XKS proxy); -cks=false skips it")
	cksOnly := flag.Bool("cks-only", false, "only the custom key store comparison of -decide (-rounds, -cks-warmup, -cks-duration, -json)")
	cksWarmup := flag.Duration("cks-warmup", time.Second, "cks: unmeasured load before each sample")
	cksDur := flag.Duration("cks-duration", 2*time.Second, "cks: how long each sample drives Encrypt")
	flag.Parse()
	if *baseline != "" {
		serveBaseline(*baseline)
		return
	}
	dcfg := decideConfig{Bin: *bin, Rounds: *rounds, Warmup: *warmup, Duration: *dur, Conc: 64,
		Extra: strings.Fields(*extra), JSONPath: *jsonOut, CKS: *cks, CKSWarmup: *cksWarmup, CKSDuration: *cksDur}
	if *cksOnly {
		rep, err := runCKS(context.Background(), dcfg)
		if err == nil {
			err = writeJSON(*jsonOut, rep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: custom key stores:", err)
			os.Exit(1)
		}
		return
	}
	if *decide {
		if err := runDecide(dcfg); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: decide:", err)
			os.Exit(1)
		}
		return
	}
	if *scaleKeys > 0 {
		err := runScale(scaleConfig{Bin: *bin, Keys: *scaleKeys, Rounds: *rounds, Warmup: *warmup, Duration: *dur, Conc: 64,
			Seed: *scaleSeed, CreateSample: *scaleCreate, Blobs: *scaleBlobs, Extra: strings.Fields(*extra), JSONPath: *jsonOut})
		if err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: scale:", err)
			os.Exit(1)
		}
		return
	}
	if *clusterDSN != "" {
		if err := runCluster(*bin, *dur, *levels, *clusterDSN); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: cluster:", err)
			os.Exit(1)
		}
		return
	}
	if *compare {
		if err := runBaseline(*dur, *levels); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: baseline:", err)
			os.Exit(1)
		}
	}
	if *ops {
		if err := run(*bin, *dur, *levels, *enforce, strings.Fields(*extra)); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench:", err)
			os.Exit(1)
		}
	}
	if *auditCost {
		if err := runAudit(*bin, *dur, *levels, strings.Fields(*extra)); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: audit durability:", err)
			os.Exit(1)
		}
	}
	if *authz {
		if err := runAuthz(*bin, *dur, *levels, strings.Fields(*extra)); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: authorization:", err)
			os.Exit(1)
		}
	}
	if *lookups > 0 {
		if err := runLookup(*bin, *lookups, strings.Fields(*extra)); err != nil {
			fmt.Fprintln(os.Stderr, "kmsbench: lookup-events:", err)
			os.Exit(1)
		}
	}
}

type server struct {
	cmd *exec.Cmd
	url string
	dir string // the data directory start made; removed by stop
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(bin string, enforce bool, extra []string) (*server, error) {
	return startEnv(bin, enforce, extra, nil)
}

// startEnv starts kmsd dev with env added to this process's environment
// (SOFTHSM2_CONF for a server that opens a SoftHSM2 token).
func startEnv(bin string, enforce bool, extra, env []string) (*server, error) {
	return startWait(bin, enforce, extra, env, 15*time.Second)
}

// startWait is startEnv giving the server wait to become healthy: a
// server that seeds a million keys first takes minutes.
func startWait(bin string, enforce bool, extra, env []string, wait time.Duration) (*server, error) {
	dir, err := os.MkdirTemp("", "kmsbench-")
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"dev", "--listen", addr, "--data", filepath.Join(dir, "data"), "--log-level", "warn"}
	if enforce {
		args = append(args, "--enforce")
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Stderr = os.Stderr
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, dir: dir}
	if err := s.waitHealthyFor(wait); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *server) waitHealthy() error { return s.waitHealthyFor(15 * time.Second) }

func (s *server) waitHealthyFor(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if s.exited() {
			return errors.New("server exited before it became healthy")
		}
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("server did not become healthy")
}

// exited reports whether the server process ended (a zombie not yet
// waited for).
func (s *server) exited() bool {
	if s.cmd == nil || s.cmd.Process == nil {
		return false
	}
	st, err := procStatOf(s.cmd.Process.Pid)
	return err == nil && st.state == "Z"
}

// cpuTime is the server process's user+system CPU time so far (0 for no
// server: a warmup that measures nothing).
func (s *server) cpuTime() (time.Duration, error) {
	if s == nil {
		return 0, nil
	}
	st, err := procStatOf(s.cmd.Process.Pid)
	return st.cpu, err
}

// procStat is what /proc/<pid>/stat says of a process: its state (Z for
// a zombie), its CPU time and the page faults it took, minor (the page was
// in memory) and major (it was read from disk).
type procStat struct {
	state        string
	cpu          time.Duration
	minor, major int64
}

func procStatOf(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(stat string) (procStat, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return procStat{}, errors.New("no command name in /proc stat")
	}
	// Fields after the parenthesised command name, from the state (the
	// 3rd): minflt is the 10th, majflt the 12th, utime and stime the 14th
	// and 15th.
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc stat has %d fields after the command name", len(f))
	}
	var n [4]int64
	for i, at := range []int{7, 9, 11, 12} {
		v, err := strconv.ParseInt(f[at], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("/proc stat field %d: %w", at+3, err)
		}
		n[i] = v
	}
	const ticks = 100 // USER_HZ on Linux
	return procStat{state: f[0], cpu: time.Duration(n[2]+n[3]) * time.Second / ticks, minor: n[0], major: n[1]}, nil
}

// stop ends the server once; later calls do nothing (a measurement stops
// idle servers early so they do not share the host with the next one).
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	if s.dir != "" {
		// A million-key run leaves gigabytes (store, audit log and index).
		_ = os.RemoveAll(s.dir)
	}
}

func client(url string, conc int) *kms.Client {
	return clientAs(url, conc, accessKey, secretKey)
}

func clientAs(url string, conc int, akid, secret string) *kms.Client {
	return clientFor(url, conc, "us-east-1", akid, secret)
}

// clientIn is a client of the account root signing for region.
func clientIn(url string, conc int, region string) *kms.Client {
	return clientFor(url, conc, region, accessKey, secretKey)
}

func clientFor(url string, conc int, region, akid, secret string) *kms.Client {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}
	return kms.New(kms.Options{
		Region:           region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	})
}

type scenario struct {
	name string
	run  func(ctx context.Context, c *kms.Client) error
}

func run(bin string, dur time.Duration, levels string, enforce bool, extra []string) error {
	srv, err := start(bin, enforce, extra)
	if err != nil {
		return err
	}
	defer srv.stop()
	ctx := context.Background()
	setup := client(srv.url, 1)
	key, err := setup.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("kmsbench")})
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	keyID := key.KeyMetadata.KeyId
	small, large := make([]byte, 32), make([]byte, 4096)
	blob, err := setup.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: small})
	if err != nil {
		return fmt.Errorf("encrypt: %w", err)
	}
	scenarios := []scenario{
		{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: small})
			return err
		}},
		{"Encrypt 4KiB", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: large})
			return err
		}},
		{"Decrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})
			return err
		}},
		{"GenerateDataKey", func(ctx context.Context, c *kms.Client) error {
			_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: types.DataKeySpecAes256})
			return err
		}},
	}
	signing, err := signingScenarios(ctx, setup)
	if err != nil {
		return err
	}
	scenarios = append(scenarios, signing...)
	mode := "permissive"
	if enforce {
		mode = "SigV4 enforced"
	}
	fmt.Printf("kmsd %s, audit on, %d CPUs, %s per scenario\n", mode, runtime.NumCPU(), dur)
	printPrimitiveCosts()
	header()
	for _, sc := range scenarios {
		for _, conc := range parseLevels(levels) {
			if err := measure(ctx, srv, sc, conc, dur); err != nil {
				return err
			}
		}
	}
	return nil
}

func measure(ctx context.Context, srv *server, sc scenario, conc int, dur time.Duration) error {
	_, err := measureWith(ctx, srv, client(srv.url, conc), sc, conc, dur)
	return err
}

// measureWith drives sc through c at concurrency conc for dur, prints a
// row, and returns the server's CPU time per request.
func measureWith(ctx context.Context, srv *server, c *kms.Client, sc scenario, conc int, dur time.Duration) (time.Duration, error) {
	// Warm up connections and caches.
	for i := 0; i < conc; i++ {
		_ = sc.run(ctx, c)
	}
	r, err := sample(ctx, srv, c, sc, conc, dur)
	if err != nil {
		return 0, err
	}
	fmt.Printf("%-18s %5d %10.0f %10s %10s %14s %8d\n", sc.name, conc, r.RPS,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.CPUPerReq.Round(100*time.Nanosecond), r.Errors)
	if r.LastError != "" {
		fmt.Printf("  last error: %s\n", r.LastError)
	}
	return r.CPUPerReq, nil
}

// sampleResult is one measurement of one scenario on one server.
type sampleResult struct {
	Requests  int           `json:"requests"`
	Errors    int64         `json:"errors"`
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	CPUPerReq time.Duration `json:"server_cpu_per_request_ns"`
	LastError string        `json:"last_error,omitempty"`
}

// sample drives sc through c at concurrency conc for dur and measures it:
// requests per second, latency percentiles of the successful requests, and
// the server's CPU time (from /proc) per request.
func sample(ctx context.Context, srv *server, c *kms.Client, sc scenario, conc int, dur time.Duration) (sampleResult, error) {
	cpu0, err := srv.cpuTime()
	if err != nil {
		return sampleResult{}, err
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		lat    []time.Duration
		errs   atomic.Int64
		lastEr atomic.Value
	)
	start := time.Now()
	stop := start.Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := sc.run(ctx, c); err != nil {
					errs.Add(1)
					lastEr.Store(err.Error())
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, err := srv.cpuTime()
	if err != nil {
		return sampleResult{}, err
	}
	slices.Sort(lat)
	r := sampleResult{Requests: len(lat) + int(errs.Load()), Errors: errs.Load(), RPS: float64(len(lat)) / elapsed.Seconds()}
	if len(lat) > 0 {
		r.P50, r.P99 = lat[int(0.50*float64(len(lat)-1))], lat[int(0.99*float64(len(lat)-1))]
	}
	if r.Requests > 0 {
		r.CPUPerReq = (cpu1 - cpu0) / time.Duration(r.Requests)
	}
	if e, ok := lastEr.Load().(string); ok {
		r.LastError = e
	}
	return r, nil
}

func header() {
	fmt.Printf("%-18s %5s %10s %10s %10s %14s %8s\n", "operation", "conc", "req/s", "p50", "p99", "server CPU/req", "errors")
}

func parseLevels(levels string) []int {
	var out []int
	for _, f := range strings.Split(levels, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}
