package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// scaleConfig is how `make bench-scale` measures.
type scaleConfig struct {
	Bin      string        `json:"-"`
	Keys     int           `json:"keys"`
	Rounds   int           `json:"rounds"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	Conc     int           `json:"concurrency"`
	Extra    []string      `json:"kmsd_args,omitempty"`
	JSONPath string        `json:"-"`
	// Seed makes the keys with kmsd dev --seed, and CreateKey's rate is
	// measured apart, over CreateSample keys on a server of their own.
	Seed         bool `json:"seed"`
	CreateSample int  `json:"createkey_sample,omitempty"`
	// Blobs is how many ciphertexts Decrypt picks from, spread evenly over
	// the keys (0: one under every key). Fewer keys than the server's cache
	// holds would measure cache hits, not a random key among them all.
	Blobs int `json:"decrypt_blobs"`
}

// scaleRegions hold the keys of a large run: AWS's quota of 100,000 keys
// per account and Region (which kmsd enforces) puts a million keys in ten
// Regions; each Region is its own partition of the store, as at AWS.
var scaleRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1",
	"eu-west-2", "eu-central-1", "ap-southeast-1", "ap-northeast-1", "sa-east-1"}

// keysPerRegion is AWS's default quota of keys per account and Region.
const keysPerRegion = 100000

// regionKey is a key and the Region it lives in.
type regionKey struct {
	region int // index in scaleRegions
	id     string
}

// regionClients are clients of one server, one per Region of scaleRegions.
type regionClients []*kms.Client

func newRegionClients(url string, conc int) regionClients {
	cs := make(regionClients, len(scaleRegions))
	for i, r := range scaleRegions {
		cs[i] = clientIn(url, conc, r)
	}
	return cs
}

type scaleReport struct {
	When       time.Time        `json:"when"`
	Config     scaleConfig      `json:"config"`
	CreateRate float64          `json:"createkey_per_second"`
	CreateTime time.Duration    `json:"create_ns"`
	SeedRate   float64          `json:"seed_keys_per_second,omitempty"`
	SeedTime   time.Duration    `json:"seed_ns,omitempty"`
	LoadBefore float64          `json:"host_load1_before"`
	LoadAfter  float64          `json:"host_load1_after"`
	Samples    []roundSample    `json:"samples"`
	Ratios     map[string]ratio `json:"ratios"`
	HeapInuse  int64            `json:"heap_inuse_bytes"`          // the most after a sample of the many-key server
	HeapLive   int64            `json:"heap_live_bytes"`           // live objects after a forced collection, at the end
	HeapSpans  int64            `json:"heap_inuse_after_gc_bytes"` // the spans holding them (size-class rounding and partly used spans)
	RSS        int64            `json:"rss_bytes"`
	StoreRSS   int64            `json:"rss_store_map_bytes"`
	Targets    []target         `json:"targets"`
	// Server CPU per request over every round, background work included
	// (wholeRun).
	WholeMany time.Duration `json:"whole_run_cpu_per_request_many_ns"`
	WholeOne  time.Duration `json:"whole_run_cpu_per_request_one_ns"`
	// The page faults each server took over the same span.
	FaultsMany pageFaults `json:"page_faults_many"`
	FaultsOne  pageFaults `json:"page_faults_one"`
	// What each server spent after the rounds writing the key uses they
	// left, and the whole run's CPU per request with it.
	TailMany      tail          `json:"tail_many"`
	TailOne       tail          `json:"tail_one"`
	WholeTailMany time.Duration `json:"whole_run_with_tail_cpu_per_request_many_ns"`
	WholeTailOne  time.Duration `json:"whole_run_with_tail_cpu_per_request_one_ns"`
}

// runScale compares Encrypt, Decrypt and DescribeKey on a random key among
// cfg.Keys with the same calls on a server holding one key, in interleaved
// rounds, and reports the large server's heap and RSS.
func runScale(cfg scaleConfig) error {
	ctx := context.Background()
	rep := scaleReport{When: time.Now().UTC(), Config: cfg, Ratios: map[string]ratio{}, LoadBefore: loadAvg()}
	admin, err := freePort()
	if err != nil {
		return err
	}
	bigMetrics := "http://" + admin + "/metrics"
	wait, err := flushWait(cfg.Bin, cfg.Extra)
	if err != nil {
		return err
	}
	bigArgs := append([]string{"--admin-listen", admin}, cfg.Extra...)
	if cfg.Seed {
		seed, err := writeScaleSeed(cfg.Keys)
		if err != nil {
			return err
		}
		defer os.Remove(seed)
		bigArgs = append(bigArgs, "--seed", seed)
		fmt.Printf("seeding %d generated keys (kmsd dev --seed), host load %.2f\n", cfg.Keys, loadAvg())
	}
	t0 := time.Now()
	big, err := startWait(cfg.Bin, true, bigArgs, nil, 30*time.Minute)
	if err != nil {
		return err
	}
	defer big.stop()
	if cfg.Seed {
		rep.SeedTime = time.Since(t0)
		rep.SeedRate = float64(cfg.Keys) / rep.SeedTime.Seconds()
		fmt.Printf("seeded %d keys in %s (%.0f keys/s, start included), host load %.2f\n", cfg.Keys, rep.SeedTime.Round(time.Second), rep.SeedRate, loadAvg())
	}
	oneAdmin, err := freePort()
	if err != nil {
		return err
	}
	one, err := start(cfg.Bin, true, append([]string{"--admin-listen", oneAdmin}, cfg.Extra...))
	if err != nil {
		return err
	}
	defer one.stop()

	fmt.Printf("make bench-scale: %d keys vs one key, %d rounds, %s warmup + %s per sample, concurrency %d; host load %.2f\n",
		cfg.Keys, cfg.Rounds, cfg.Warmup, cfg.Duration, cfg.Conc, rep.LoadBefore)
	fmt.Printf("the %d-key server's pprof and metrics: http://%s/debug/pprof/, http://%s/metrics\n", cfg.Keys, admin, admin)
	fmt.Printf("the one-key server's pprof: http://%s/debug/pprof/\n", oneAdmin)
	var ids []regionKey
	if cfg.Seed {
		if ids, err = listScaleKeys(ctx, big, cfg.Keys); err != nil {
			return err
		}
		if err := measureCreate(ctx, cfg, &rep); err != nil {
			return err
		}
	} else {
		t0 = time.Now()
		if ids, err = createKeys(ctx, big, cfg.Keys, cfg.Conc); err != nil {
			return err
		}
		rep.CreateTime = time.Since(t0)
		rep.CreateRate = float64(len(ids)) / rep.CreateTime.Seconds()
		fmt.Printf("created %d keys in %s (%.0f keys/s at concurrency %d), host load %.2f\n", len(ids), rep.CreateTime.Round(time.Second), rep.CreateRate, cfg.Conc, loadAvg())
	}
	nb := len(ids)
	if cfg.Blobs > 0 {
		nb = min(cfg.Blobs, nb)
	}
	t0 = time.Now()
	blobs, err := makeBlobs(ctx, big, ids, nb, cfg.Conc)
	if err != nil {
		return err
	}
	fmt.Printf("made %d ciphertexts for Decrypt, under %d keys, in %s\n", nb, nb, time.Since(t0).Round(time.Second))
	if err := waitUsesWritten(bigMetrics, wait, time.Second); err != nil {
		return err
	}
	oneID, err := createKeys(ctx, one, 1, 1)
	if err != nil {
		return err
	}
	oneBlobs, err := makeBlobs(ctx, one, oneID, 1, 1)
	if err != nil {
		return err
	}

	pt := make([]byte, 32)
	// The scenarios pick a random key and call through the client of its
	// Region; the *kms.Client passed in only chooses the server.
	ops := func(cs regionClients, ids []regionKey, blobs []regionBlob) []scenario {
		return []scenario{
			{"Encrypt 32B", func(ctx context.Context, _ *kms.Client) error {
				k := ids[rand.IntN(len(ids))]
				_, err := cs[k.region].Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.id), Plaintext: pt})
				return err
			}},
			{"Decrypt 32B", func(ctx context.Context, _ *kms.Client) error {
				b := blobs[rand.IntN(len(blobs))]
				_, err := cs[b.region].Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: b.blob})
				return err
			}},
			{"DescribeKey", func(ctx context.Context, _ *kms.Client) error {
				k := ids[rand.IntN(len(ids))]
				_, err := cs[k.region].DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.id)})
				return err
			}},
		}
	}
	bigOps := ops(newRegionClients(big.url, cfg.Conc), ids, blobs)
	oneOps := ops(newRegionClients(one.url, cfg.Conc), oneID, oneBlobs)
	var bc, oc *kms.Client // unused by the scenarios
	type per struct{ cpu, p50, p99 []float64 }
	ratios := map[string]*per{}
	whole := func() (many, single wholeRun, err error) {
		if many, err = wholeRunOf(big, bigMetrics); err == nil {
			single, err = wholeRunOf(one, "http://"+oneAdmin+"/metrics")
		}
		return many, single, err
	}
	bigStart, oneStart, err := whole()
	if err != nil {
		return err
	}
	fmt.Printf("\n%-12s %-5s %5s %10s %10s %10s %14s %6s %6s\n", "scenario", "keys", "round", "req/s", "p50", "p99", "server CPU/req", "errors", "load")
	for round := range cfg.Rounds {
		for i := range bigOps {
			order := []string{"many", "one"}
			if round%2 == 1 {
				order = []string{"one", "many"}
			}
			got := map[string]sampleResult{}
			for _, name := range order {
				s, c, sc := big, bc, bigOps[i]
				if name == "one" {
					s, c, sc = one, oc, oneOps[i]
				}
				rs, err := measureRound(ctx, s, c, sc, cfg.Conc, cfg.Warmup, cfg.Duration, name, round, 12)
				if err != nil {
					return err
				}
				rep.Samples = append(rep.Samples, rs)
				got[name] = rs.sampleResult
				if name == "many" {
					// The heap as the load leaves it: live data and the
					// garbage the collector has not yet reclaimed.
					if _, inuse, err := heapOf(bigMetrics); err == nil {
						rep.HeapInuse = max(rep.HeapInuse, inuse)
					}
				}
			}
			m, o := got["many"], got["one"]
			name := bigOps[i].name
			if ratios[name] == nil {
				ratios[name] = &per{}
			}
			if o.CPUPerReq > 0 && o.P50 > 0 && o.P99 > 0 {
				p := ratios[name]
				p.cpu = append(p.cpu, float64(m.CPUPerReq)/float64(o.CPUPerReq))
				p.p50 = append(p.p50, float64(m.P50)/float64(o.P50))
				p.p99 = append(p.p99, float64(m.P99)/float64(o.P99))
			}
		}
	}
	bigEnd, oneEnd, err := whole()
	if err != nil {
		return err
	}
	rep.WholeMany, rep.WholeOne = bigEnd.perRequest(bigStart), oneEnd.perRequest(oneStart)
	rep.FaultsMany, rep.FaultsOne = bigEnd.faults(bigStart), oneEnd.faults(oneStart)
	if rep.TailMany, err = tailOf(big.cmd.Process.Pid, bigMetrics, wait); err != nil {
		return err
	}
	if rep.TailOne, err = tailOf(one.cmd.Process.Pid, "http://"+oneAdmin+"/metrics", wait); err != nil {
		return err
	}
	rep.WholeTailMany, rep.WholeTailOne = bigEnd.withTail(bigStart, rep.TailMany), oneEnd.withTail(oneStart, rep.TailOne)
	rep.LoadAfter = loadAvg()
	if rep.HeapLive, rep.HeapSpans, err = liveHeapOf("http://" + admin); err != nil {
		fmt.Println("  heap: ", err)
	}
	rep.RSS, rep.StoreRSS, _ = rssOf(big.cmd.Process.Pid, "kmsd.db")

	fmt.Printf("\nratios %d keys / one key (median [min–max] of the rounds):\n", len(ids))
	for _, sc := range bigOps {
		p := ratios[sc.name]
		if p == nil {
			continue
		}
		for _, m := range []struct {
			what  string
			v     []float64
			limit float64
		}{{"server CPU", p.cpu, 1.15}, {"p50", p.p50, 1.15}, {"p99", p.p99, 1.5}} {
			r := summarize(sc.name+" "+m.what, m.v)
			rep.Ratios[r.Name] = r
			fmt.Printf("  %-24s %.2f× [%.2f–%.2f]\n", r.Name, r.Median, r.Min, r.Max)
			rep.Targets = append(rep.Targets, newTarget(r.Name+" vs one key", r.Median, m.limit, true, "×"))
		}
	}
	if rep.WholeOne > 0 {
		fmt.Printf("  %-24s %.2f× (%s among %d keys, %s on one key: every round, warmups and background work included)\n",
			"whole run server CPU", float64(rep.WholeMany)/float64(rep.WholeOne), rep.WholeMany.Round(100*time.Nanosecond), len(ids), rep.WholeOne.Round(100*time.Nanosecond))
		fmt.Printf("  %-24s %s\n", "", tailLine(rep.WholeTailMany, rep.WholeTailOne, rep.TailMany, rep.TailOne))
	}
	fmt.Printf("page faults over the rounds: %d keys %s; one key %s\n", len(ids), rep.FaultsMany, rep.FaultsOne)
	const mib = 1 << 20
	fmt.Printf("memory of the %d-key server: Go heap in use up to %d MiB under load; after a collection %d MiB of live objects in %d MiB of heap in use; RSS %d MiB of which %d MiB is the store's file map\n",
		len(ids), rep.HeapInuse/mib, rep.HeapLive/mib, rep.HeapSpans/mib, rep.RSS/mib, rep.StoreRSS/mib)
	rep.Targets = append(rep.Targets,
		// No request stalls on the disk more often than on a one-key server.
		newTarget(fmt.Sprintf("major page faults /1,000 req, %d keys", len(ids)),
			rep.FaultsMany.perThousand(rep.FaultsMany.Major), rep.FaultsOne.perThousand(rep.FaultsOne.Major), true, ""),
		newTarget(fmt.Sprintf("Go heap in use under load, %d keys", len(ids)), float64(rep.HeapInuse)/mib, 300, true, "MiB"),
		failedTarget(rep.Samples, ""),
		newTarget(fmt.Sprintf("CreateKey at concurrency %d", cfg.Conc), rep.CreateRate, 3000, false, "keys/s"))
	if cfg.Seed {
		// Seeding must be faster than CreateKey, which it replaces for large stores.
		rep.Targets = append(rep.Targets, newTarget(fmt.Sprintf("kmsd dev --seed of %d generated keys", cfg.Keys), rep.SeedRate, rep.CreateRate, false, "keys/s"))
	}
	printTargets(rep.Targets, rep.LoadBefore, rep.LoadAfter)
	return writeJSON(cfg.JSONPath, rep)
}

// createKeys makes n symmetric keys at concurrency conc, filling each
// Region of scaleRegions to the quota before the next, and returns them.
func createKeys(ctx context.Context, srv *server, n, conc int) ([]regionKey, error) {
	if n > keysPerRegion*len(scaleRegions) {
		return nil, fmt.Errorf("at most %d keys: %d Regions of %d", keysPerRegion*len(scaleRegions), len(scaleRegions), keysPerRegion)
	}
	ids := make([]regionKey, n)
	cs := newRegionClients(srv.url, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				r := i / keysPerRegion
				out, err := cs[r].CreateKey(ctx, &kms.CreateKeyInput{})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create key %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				ids[i] = regionKey{r, *out.KeyMetadata.KeyId}
			}
		}()
	}
	wg.Wait()
	return ids, first
}

// setupRetries lets a call that is setup, not measured, retry what the
// SDK retries (a connection the server closed, say): one lost request
// must not end a run of many minutes.
func setupRetries(o *kms.Options) { o.RetryMaxAttempts = 3 }

// makeBlobs encrypts under n keys of ids, spread evenly: each key once when
// n is len(ids).
func makeBlobs(ctx context.Context, srv *server, ids []regionKey, n, conc int) ([]regionBlob, error) {
	blobs := make([]regionBlob, n)
	cs := newRegionClients(srv.url, conc)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				k := ids[i*len(ids)/n]
				out, err := cs[k.region].Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.id), Plaintext: make([]byte, 32)}, setupRetries)
				if err != nil {
					errs <- err
					next.Store(int64(n))
					return
				}
				blobs[i] = regionBlob{k.region, out.CiphertextBlob}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return blobs, <-errs
}

// regionBlob is a ciphertext and the Region of its key.
type regionBlob struct {
	region int
	blob   []byte
}

// liveHeapOf forces a collection in the kmsd whose admin listener is at
// base (its heap profile does, with gc=1) and then reads its live objects'
// bytes and the heap in use holding them.
func liveHeapOf(base string) (live, inuse int64, err error) {
	resp, err := http.Get(base + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return heapOf(base + "/metrics")
}

// heapOf reads the Go heap of a kmsd from its Prometheus metrics.
func heapOf(url string) (alloc, inuse int64, err error) {
	m, err := metricsOf(url, "go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes")
	return int64(m["go_memstats_heap_alloc_bytes"]), int64(m["go_memstats_heap_inuse_bytes"]), err
}
