package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// The keys make bench compares; the standard key is the ratios' reference.
const (
	keyStandard = "standard"
	keyHSM      = "HSM"
	keyXKS      = "XKS"
)

// cksSample is one key's Encrypt sample in one round. CPUPerReq (in
// sampleResult) is the KMS side's; ProxyCPUPerReq the XKS proxy kmsd's over
// the same window (about zero but for the XKS key).
type cksSample struct {
	Key            string        `json:"key"`
	Round          int           `json:"round"`
	LoadAvg        float64       `json:"host_load1"`
	ProxyCPUPerReq time.Duration `json:"proxy_cpu_per_request_ns"`
	WarmupErrors   int64         `json:"warmup_errors,omitempty"`
	sampleResult
}

// TotalCPU is both servers' CPU per request.
func (s cksSample) TotalCPU() time.Duration { return s.CPUPerReq + s.ProxyCPUPerReq }

// cksRow is one key's medians over the rounds and its per-round ratios to
// the standard key. Every CPU ratio divides by the standard key's total
// (both servers, the proxy idle), so KMS side + proxy = total holds for
// the ratios too.
type cksRow struct {
	Key      string        `json:"key"`
	RPS      float64       `json:"rps_median"`
	P50      time.Duration `json:"p50_median_ns"`
	P99      time.Duration `json:"p99_median_ns"`
	KMSCPU   time.Duration `json:"kms_cpu_per_request_median_ns"`
	ProxyCPU time.Duration `json:"proxy_cpu_per_request_median_ns"`
	TotalCPU time.Duration `json:"total_cpu_per_request_median_ns"`
	Errors   int64         `json:"errors"`
	RPSx     ratio         `json:"rps_ratio"`
	P50x     ratio         `json:"p50_ratio"`
	P99x     ratio         `json:"p99_ratio"`
	KMSCPUx  ratio         `json:"kms_cpu_ratio"`
	Proxyx   ratio         `json:"proxy_cpu_ratio"`
	Totalx   ratio         `json:"total_cpu_ratio"`
}

// cksReport is the custom key store part of make bench's JSON.
type cksReport struct {
	LoadBefore float64       `json:"host_load1_before"`
	LoadAfter  float64       `json:"host_load1_after"`
	Samples    []cksSample   `json:"samples"`
	Rows       []cksRow      `json:"keys"`
	Warmup     time.Duration `json:"warmup_ns"`
	Duration   time.Duration `json:"duration_ns"`
}

// rotate is names started at the round's offset, so each key is measured
// first, middle and last in turn and host drift spreads over all of them.
func rotate(names []string, round int) []string {
	if len(names) == 0 {
		return nil
	}
	i := round % len(names)
	return append(slices.Clone(names[i:]), names[:i]...)
}

// cksRows summarizes the samples of keys (keys[0] the reference): medians
// per key, and ratios to the reference taken round by round, from rounds
// where both were measured and the reference's value is above zero.
func cksRows(samples []cksSample, keys []string) []cksRow {
	type at struct {
		key   string
		round int
	}
	byAt := map[at]cksSample{}
	rounds := map[int]bool{}
	for _, s := range samples {
		byAt[at{s.Key, s.Round}] = s
		rounds[s.Round] = true
	}
	order := slices.Sorted(maps.Keys(rounds))
	var rows []cksRow
	for _, k := range keys {
		row := cksRow{Key: k}
		var rps, p50, p99, kc, pc, tc []float64
		var x [6][]float64
		for _, r := range order {
			s, ok := byAt[at{k, r}]
			if !ok {
				continue
			}
			row.Errors += s.Errors
			rps, p50, p99 = append(rps, s.RPS), append(p50, float64(s.P50)), append(p99, float64(s.P99))
			kc, pc, tc = append(kc, float64(s.CPUPerReq)), append(pc, float64(s.ProxyCPUPerReq)), append(tc, float64(s.TotalCPU()))
			ref, ok := byAt[at{keys[0], r}]
			if !ok {
				continue
			}
			for i, p := range [6][2]float64{
				{s.RPS, ref.RPS}, {float64(s.P50), float64(ref.P50)}, {float64(s.P99), float64(ref.P99)},
				{float64(s.CPUPerReq), float64(ref.TotalCPU())}, {float64(s.ProxyCPUPerReq), float64(ref.TotalCPU())},
				{float64(s.TotalCPU()), float64(ref.TotalCPU())},
			} {
				if p[1] > 0 {
					x[i] = append(x[i], p[0]/p[1])
				}
			}
		}
		med := func(v []float64) float64 { return summarize("", v).Median }
		row.RPS, row.P50, row.P99 = med(rps), time.Duration(med(p50)), time.Duration(med(p99))
		row.KMSCPU, row.ProxyCPU, row.TotalCPU = time.Duration(med(kc)), time.Duration(med(pc)), time.Duration(med(tc))
		row.RPSx, row.P50x, row.P99x = summarize("req/s", x[0]), summarize("p50", x[1]), summarize("p99", x[2])
		row.KMSCPUx, row.Proxyx, row.Totalx = summarize("KMS-side CPU", x[3]), summarize("proxy CPU", x[4]), summarize("total CPU", x[5])
		rows = append(rows, row)
	}
	return rows
}

// runCKS compares Encrypt 32B on a standard key, a key in an AWS_CLOUDHSM
// store (a SoftHSM2 token) and a key in an EXTERNAL_KEY_STORE (a second
// kmsd as the XKS proxy), all in one kmsd --enforce, in interleaved rounds
// whose order rotates, after a warmup of each; both servers' CPU from /proc.
func runCKS(ctx context.Context, cfg decideConfig) (*cksReport, error) {
	e, err := startCKS(ctx, cfg.Bin, cfg.Extra)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &cksReport{LoadBefore: loadAvg(), Warmup: cfg.CKSWarmup, Duration: cfg.CKSDuration}
	fmt.Printf("\ncustom key stores: Encrypt 32B at concurrency %d in one kmsd --enforce on a standard key, an AWS_CLOUDHSM key (SoftHSM2 token) and an EXTERNAL_KEY_STORE key (a second kmsd as XKS proxy); %d rounds (order rotating), %s warmup + %s per sample; host load %.2f\n",
		cfg.Conc, cfg.Rounds, cfg.CKSWarmup, cfg.CKSDuration, rep.LoadBefore)
	fmt.Println("(SoftHSM2 runs inside the KMS kmsd, so the token's work is in its CPU; the proxy is reached over plain HTTP on loopback)")
	pt := make([]byte, 32)
	ids := map[string]*string{keyStandard: e.std, keyHSM: e.hsm, keyXKS: e.xk}
	c := client(e.kms.url, cfg.Conc)
	keys := []string{keyStandard, keyHSM, keyXKS}
	fmt.Printf("%-8s %5s %10s %10s %10s %12s %12s %12s %6s %6s\n", "key", "round", "req/s", "p50", "p99", "KMS CPU/req", "proxy CPU", "total CPU", "errors", "load")
	for round := range cfg.Rounds {
		for _, k := range rotate(keys, round) {
			id := ids[k]
			sc := scenario{"Encrypt 32B " + k, func(ctx context.Context, c *kms.Client) error {
				_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: pt})
				return err
			}}
			// The warmup is not measured, but its failures (an XKS proxy past
			// AWS's 250 ms timeout on a busy host) are worth seeing.
			w, err := sample(ctx, nil, c, sc, cfg.Conc, cfg.CKSWarmup)
			if err != nil {
				return nil, err
			}
			if w.Errors > 0 {
				fmt.Printf("  warmup of %s: %d errors, last: %s\n", k, w.Errors, w.LastError)
			}
			p0, err := e.proxy.cpuTime()
			if err != nil {
				return nil, err
			}
			r, err := sample(ctx, e.kms, c, sc, cfg.Conc, cfg.CKSDuration)
			if err != nil {
				return nil, err
			}
			p1, err := e.proxy.cpuTime()
			if err != nil {
				return nil, err
			}
			s := cksSample{Key: k, Round: round, LoadAvg: loadAvg(), WarmupErrors: w.Errors, sampleResult: r}
			if r.Requests > 0 {
				s.ProxyCPUPerReq = (p1 - p0) / time.Duration(r.Requests)
			}
			rep.Samples = append(rep.Samples, s)
			fmt.Printf("%-8s %5d %10.0f %10s %10s %12s %12s %12s %6d %6.2f\n", k, round, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond),
				us(s.CPUPerReq), us(s.ProxyCPUPerReq), us(s.TotalCPU()), r.Errors, s.LoadAvg)
			if r.LastError != "" {
				fmt.Printf("  last error: %s\n", r.LastError)
			}
		}
	}
	rep.LoadAfter = loadAvg()
	rep.Rows = cksRows(rep.Samples, keys)
	printCKS(rep)
	return rep, nil
}

func us(d time.Duration) string { return d.Round(100 * time.Nanosecond).String() }

func printCKS(rep *cksReport) {
	fmt.Printf("\ncustom key stores, medians over the rounds (host load %.2f before, %.2f after):\n", rep.LoadBefore, rep.LoadAfter)
	fmt.Printf("  %-8s %10s %10s %10s %12s %12s %12s %6s\n", "key", "req/s", "p50", "p99", "KMS CPU/req", "proxy CPU", "total CPU", "errors")
	for _, r := range rep.Rows {
		fmt.Printf("  %-8s %10.0f %10s %10s %12s %12s %12s %6d\n", r.Key, r.RPS, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond),
			us(r.KMSCPU), us(r.ProxyCPU), us(r.TotalCPU), r.Errors)
	}
	fmt.Println("per-round ratios to the standard key (median [min–max]; CPU against the standard key's total):")
	x := func(r ratio) string { return fmt.Sprintf("%.2f× [%.2f–%.2f]", r.Median, r.Min, r.Max) }
	for _, r := range rep.Rows[1:] {
		fmt.Printf("  %-8s req/s %s  p50 %s  p99 %s\n", r.Key, x(r.RPSx), x(r.P50x), x(r.P99x))
		fmt.Printf("  %-8s CPU: KMS side %s + proxy %s = total %s\n", "", x(r.KMSCPUx), x(r.Proxyx), x(r.Totalx))
	}
}
