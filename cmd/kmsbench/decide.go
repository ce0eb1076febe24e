package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/internal/keys"
)

// decideConfig is how `make bench` measures.
type decideConfig struct {
	Bin      string        `json:"-"`
	Rounds   int           `json:"rounds"`
	Warmup   time.Duration `json:"warmup_ns"`
	Duration time.Duration `json:"duration_ns"`
	Conc     int           `json:"concurrency"`
	Extra    []string      `json:"kmsd_args,omitempty"`
	JSONPath string        `json:"-"`
	// CKS adds the custom key store comparison, CKSWarmup and CKSDuration
	// per sample.
	CKS         bool          `json:"custom_key_stores"`
	CKSWarmup   time.Duration `json:"cks_warmup_ns"`
	CKSDuration time.Duration `json:"cks_duration_ns"`
}

// roundSample is one server's sample of one scenario in one round.
type roundSample struct {
	Scenario string  `json:"scenario"`
	Server   string  `json:"server"`
	Round    int     `json:"round"`
	LoadAvg  float64 `json:"host_load1"`
	sampleResult
}

// ratio is a per-round ratio of kmsd to the null server, summarized.
type ratio struct {
	Name     string    `json:"name"`
	PerRound []float64 `json:"per_round"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
}

func summarize(name string, v []float64) ratio {
	s := slices.Sorted(slices.Values(v))
	r := ratio{Name: name, PerRound: v}
	if len(s) > 0 {
		r.Median, r.Min, r.Max = s[len(s)/2], s[0], s[len(s)-1]
		if len(s)%2 == 0 {
			r.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
	}
	return r
}

// target is one goal of the performance issue, measured.
type target struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	AtMost   bool    `json:"at_most"` // the measure must not exceed Limit (else: reach it)
	Holds    bool    `json:"holds"`
	Unit     string  `json:"unit"`
}

func newTarget(name string, measured, limit float64, atMost bool, unit string) target {
	holds := measured >= limit
	if atMost {
		holds = measured <= limit
	}
	return target{Name: name, Measured: measured, Limit: limit, AtMost: atMost, Holds: holds, Unit: unit}
}

// primitive is a primitive's CPU cost in this process.
type primitive struct {
	Name   string        `json:"name"`
	CPU    time.Duration `json:"cpu_ns"`
	Allocs int64         `json:"allocs"`
}

// decideReport is the JSON written beside the table.
type decideReport struct {
	When       time.Time      `json:"when"`
	CPUs       int            `json:"cpus"`
	Config     decideConfig   `json:"config"`
	LoadBefore float64        `json:"host_load1_before"`
	LoadAfter  float64        `json:"host_load1_after"`
	Primitives []primitive    `json:"primitives"`
	Samples    []roundSample  `json:"samples"`
	CPURatios  []ratio        `json:"server_cpu_ratios"`
	RPSRatios  []ratio        `json:"rps_ratios"`
	CreateKeys float64        `json:"createkey_per_second"`
	Targets    []target       `json:"targets"`
	AuditSplit *auditSplit    `json:"durable_audit,omitempty"`
	CKS        *cksReport     `json:"custom_key_stores,omitempty"`
	Notes      map[string]any `json:"notes,omitempty"`
}

// runDecide measures the targets: kmsd with --enforce, an IAM
// user, a five-statement key policy, 1,000 grants and durable audit,
// against the do-nothing server, both driven by the same SDK loader in
// interleaved rounds whose order alternates, after a warmup of each.
func runDecide(cfg decideConfig) error {
	ctx := context.Background()
	rep := decideReport{When: time.Now().UTC(), CPUs: runtime.NumCPU(), Config: cfg, LoadBefore: loadAvg()}
	fmt.Printf("make bench: kmsd --enforce vs a do-nothing Go JSON server, %d CPUs, %d rounds (order alternating), %s warmup + %s per sample, concurrency %d; host load %.2f\n",
		rep.CPUs, cfg.Rounds, cfg.Warmup, cfg.Duration, cfg.Conc, rep.LoadBefore)

	rep.Primitives = measurePrimitives()
	fmt.Println("primitives (testing.Benchmark, CPU time per call in this process):")
	for _, p := range rep.Primitives {
		fmt.Printf("  %-28s %10s %4d allocs\n", p.Name, p.CPU.Round(10*time.Nanosecond), p.Allocs)
	}

	null, err := startNull()
	if err != nil {
		return err
	}
	defer null.stop()
	srv, err := start(cfg.Bin, true, cfg.Extra)
	if err != nil {
		return err
	}
	defer srv.stop()
	akid, secret, scenarios, err := decideScenarios(ctx, srv)
	if err != nil {
		return err
	}
	kc, nc := clientAs(srv.url, cfg.Conc, akid, secret), clientAs(null.url, cfg.Conc, akid, secret)
	// The same kmsd acknowledging records when queued, set up alike.
	async, err := start(cfg.Bin, true, append(slices.Clone(cfg.Extra), "--audit-async"))
	if err != nil {
		return err
	}
	defer async.stop()
	aakid, asecret, ascenarios, err := decideScenarios(ctx, async)
	if err != nil {
		return err
	}
	ac := clientAs(async.url, cfg.Conc, aakid, asecret)

	cpuR := map[string][]float64{}
	rpsR := map[string][]float64{}
	var splitRounds []map[string]sampleResult
	fmt.Printf("\n%-16s %-5s %5s %10s %10s %10s %14s %6s %6s\n", "scenario", "srv", "round", "req/s", "p50", "p99", "server CPU/req", "errors", "load")
	for round := range cfg.Rounds {
		for i, sc := range scenarios {
			split := sc.name == splitScenario
			got := map[string]sampleResult{}
			for _, name := range sampleOrder(round, split) {
				s, c, run := srv, kc, sc
				switch name {
				case "null":
					s, c = null, nc
				case "async":
					s, c, run = async, ac, ascenarios[i]
				}
				rs, err := measureRound(ctx, s, c, run, cfg.Conc, cfg.Warmup, cfg.Duration, name, round, 16)
				if err != nil {
					return err
				}
				rep.Samples = append(rep.Samples, rs)
				got[name] = rs.sampleResult
			}
			if split {
				splitRounds = append(splitRounds, got)
			}
			k, n := got["kmsd"], got["null"]
			if n.CPUPerReq > 0 && n.RPS > 0 {
				cpuR[sc.name] = append(cpuR[sc.name], float64(k.CPUPerReq)/float64(n.CPUPerReq))
				rpsR[sc.name] = append(rpsR[sc.name], k.RPS/n.RPS)
			}
		}
	}

	rep.CreateKeys, err = createKeyRate(ctx, srv, cfg.Conc, cfg.Duration)
	if err != nil {
		return err
	}
	rep.LoadAfter = loadAvg()

	fmt.Printf("\nper-round ratios kmsd/null at concurrency %d (median [min–max]):\n", cfg.Conc)
	for _, sc := range scenarios {
		c, r := summarize(sc.name, cpuR[sc.name]), summarize(sc.name, rpsR[sc.name])
		rep.CPURatios, rep.RPSRatios = append(rep.CPURatios, c), append(rep.RPSRatios, r)
		fmt.Printf("  %-16s server CPU %.2f× [%.2f–%.2f]   req/s %.2f× [%.2f–%.2f]\n", sc.name, c.Median, c.Min, c.Max, r.Median, r.Min, r.Max)
	}
	if rep.AuditSplit = splitAudit(splitRounds); rep.AuditSplit != nil {
		rep.AuditSplit.print()
	}
	rep.Targets = decideTargets(rep)
	printTargets(rep.Targets, rep.LoadBefore, rep.LoadAfter)
	if cfg.CKS {
		// Idle servers would still share the host with the next samples.
		srv.stop()
		null.stop()
		async.stop()
		if rep.CKS, err = runCKS(ctx, cfg); err != nil {
			return fmt.Errorf("custom key stores (skip with -cks=false): %w", err)
		}
	}
	return writeJSON(cfg.JSONPath, rep)
}

// decideTargets checks the measurements against the targets.
func decideTargets(rep decideReport) []target {
	cpu := func(name string) float64 {
		for _, r := range rep.CPURatios {
			if r.Name == name {
				return r.Median
			}
		}
		return 0
	}
	var ts []target
	for _, op := range []string{"Encrypt 32B", "Decrypt 32B", "GenerateDataKey"} {
		ts = append(ts, newTarget(op+": server CPU vs null", cpu(op), 1.10, true, "×"))
	}
	// Sign P-256: at most the null server's CPU plus the primitive's, +10%.
	var p256 time.Duration
	for _, p := range rep.Primitives {
		if p.Name == "ECDSA P-256 sign" {
			p256 = p.CPU
		}
	}
	var kSign, nSign []float64
	for _, s := range rep.Samples {
		if s.Scenario == "Sign P-256" {
			if s.Server == "kmsd" {
				kSign = append(kSign, float64(s.CPUPerReq))
			} else {
				nSign = append(nSign, float64(s.CPUPerReq))
			}
		}
	}
	if len(kSign) > 0 && len(kSign) == len(nSign) {
		per := make([]float64, len(kSign))
		for i := range kSign {
			per[i] = kSign[i] / (nSign[i] + float64(p256))
		}
		ts = append(ts, newTarget("Sign P-256: CPU vs null + P-256 primitive", summarize("", per).Median, 1.10, true, "×"))
	}
	for _, r := range rep.RPSRatios {
		ts = append(ts, newTarget(r.Name+": req/s vs null", r.Median, 0.95, false, "×"))
	}
	ts = append(ts, failedTarget(rep.Samples, "null"),
		newTarget(fmt.Sprintf("CreateKey at concurrency %d", rep.Config.Conc), rep.CreateKeys, 3000, false, "keys/s"))
	return ts
}

// failedTarget counts the requests that failed in the samples of every
// server but skip. The bench's clients do not retry, so a throttled
// request counts too: back-pressure must slow requests down, not fail them.
func failedTarget(samples []roundSample, skip string) target {
	var n int64
	for _, s := range samples {
		if s.Server != skip {
			n += s.Errors
		}
	}
	return newTarget("kmsd requests failed under load (no retries)", float64(n), 0, true, "")
}

func printTargets(ts []target, before, after float64) {
	fmt.Printf("\ntargets (host load %.2f before, %.2f after; the CPU targets are stated for an idle host):\n", before, after)
	for _, t := range ts {
		op, verdict := "≥", "holds"
		if t.AtMost {
			op = "≤"
		}
		if !t.Holds {
			verdict = "DOES NOT HOLD"
		}
		fmt.Printf("  %-46s %10.2f %s  (target %s %.2f)  %s\n", t.Name, t.Measured, t.Unit, op, t.Limit, verdict)
	}
}

func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("results written to %s\n", path)
	return nil
}

// measureRound warms a server up, takes one sample of a scenario on it and
// prints the sample as a table row whose first column is width wide.
func measureRound(ctx context.Context, s *server, c *kms.Client, sc scenario, conc int, warmup, dur time.Duration, name string, round, width int) (roundSample, error) {
	warm(ctx, c, sc, conc, warmup)
	r, err := sample(ctx, s, c, sc, conc, dur)
	if err != nil {
		return roundSample{}, err
	}
	rs := roundSample{Scenario: sc.name, Server: name, Round: round, LoadAvg: loadAvg(), sampleResult: r}
	fmt.Printf("%-*s %-5s %5d %10.0f %10s %10s %14s %6d %6.2f\n", width, sc.name, name, round, r.RPS,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.CPUPerReq.Round(100*time.Nanosecond), r.Errors, rs.LoadAvg)
	if r.LastError != "" {
		fmt.Printf("  last error: %s\n", r.LastError)
	}
	return rs, nil
}

// warm drives sc for d without measuring: connections open, caches fill,
// and the CPU settles before the sample.
func warm(ctx context.Context, c *kms.Client, sc scenario, conc int, d time.Duration) {
	_, _ = sample(ctx, nil, c, sc, conc, d)
}

// decideScenarios sets kmsd up as the issue states (an IAM user allowed by
// a five-statement key policy, a key with 1,000 grants, a P-256 signing
// key) and returns the user's credentials and the scenarios.
func decideScenarios(ctx context.Context, srv *server) (akid, secret string, _ []scenario, err error) {
	root := client(srv.url, 8)
	if akid, secret, err = benchUser(ctx, srv.url); err != nil {
		return "", "", nil, err
	}
	key, err := root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(benchKeyPolicy)})
	if err != nil {
		return "", "", nil, fmt.Errorf("create key with the bench policy: %w", err)
	}
	if err := createGrants(ctx, root, key.KeyMetadata.KeyId); err != nil {
		return "", "", nil, err
	}
	signer, err := root.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(benchSignPolicy()),
		KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		return "", "", nil, fmt.Errorf("create P-256 key: %w", err)
	}
	id, sid := key.KeyMetadata.KeyId, signer.KeyMetadata.KeyId
	ec := map[string]string{"tenant": "acme"}
	pt, msg := make([]byte, 32), make([]byte, 32)
	user := clientAs(srv.url, 1, akid, secret)
	blob, err := user.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		return "", "", nil, fmt.Errorf("encrypt as the bench user: %w", err)
	}
	return akid, secret, []scenario{
		{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: pt, EncryptionContext: ec})
			return err
		}},
		{"Decrypt 32B", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob, EncryptionContext: ec})
			return err
		}},
		{"GenerateDataKey", func(ctx context.Context, c *kms.Client) error {
			_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: id, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
			return err
		}},
		{"Sign P-256", func(ctx context.Context, c *kms.Client) error {
			_, err := c.Sign(ctx, &kms.SignInput{KeyId: sid, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}},
	}, nil
}

// benchSignPolicy is the bench key policy with the application's statement
// allowing Sign from the same networks instead of encryption in a context.
func benchSignPolicy() string {
	return strings.NewReplacer(
		`"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"]`, `"Action":["kms:Sign","kms:Verify"]`,
		`"StringEquals":{"kms:EncryptionContext:tenant":"acme"},`, ``,
	).Replace(benchKeyPolicy)
}

// createKeyRate drives CreateKey at concurrency conc for d and returns keys
// created per second.
func createKeyRate(ctx context.Context, srv *server, conc int, d time.Duration) (float64, error) {
	sc := scenario{"CreateKey", func(ctx context.Context, c *kms.Client) error {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		return err
	}}
	r, err := sample(ctx, srv, client(srv.url, conc), sc, conc, d)
	if err != nil {
		return 0, err
	}
	fmt.Printf("\nCreateKey at concurrency %d: %.0f keys/s, p50 %s, p99 %s, %d errors, host load %.2f\n",
		conc, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors, loadAvg())
	if r.LastError != "" {
		fmt.Printf("  last error: %s\n", r.LastError)
	}
	return r.RPS, nil
}

// measurePrimitives times the primitives under the scenarios.
func measurePrimitives() []primitive {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256(make([]byte, 32))
	material := keys.GenerateSymmetric()
	var mid keys.MaterialID
	ec := map[string]string{"tenant": "acme"}
	pt := make([]byte, 32)
	blob, _ := keys.EncryptBlob("1234abcd-12ab-34cd-56ef-1234567890ab", mid, material, pt, ec)
	var out []primitive
	for _, p := range []struct {
		name string
		f    func()
	}{
		{"ECDSA P-256 sign", func() { _, _ = ecdsa.SignASN1(rand.Reader, p256, digest[:]) }},
		{"kmsd EncryptBlob 32B", func() {
			_, _ = keys.EncryptBlob("1234abcd-12ab-34cd-56ef-1234567890ab", mid, material, pt, ec)
		}},
		{"kmsd DecryptBlob 32B", func() { _, _ = keys.DecryptBlob(blob, material, ec) }},
	} {
		cpu, allocs := primitiveCPU(p.f)
		out = append(out, primitive{Name: p.name, CPU: cpu, Allocs: allocs})
	}
	return out
}
