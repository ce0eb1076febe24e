package kms

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/uuid"
)

// BenchmarkFlushLastUsage writes one recorded use for each of many keys, as
// random-key load over a large store leaves them: the cost is per key
// written, paid by the background flush.
func BenchmarkFlushLastUsage(b *testing.B) {
	for _, n := range []int{5000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			svc, ids := missBench(b, n, 1)
			ctx := context.Background()
			pt := make([]byte, 32)
			encrypt := RecordsUse(kmsapi.KeyLastUsageTrackingOperationEncrypt, (*Service).Encrypt)
			b.ReportAllocs()
			timeFlushes(b, svc, func() {
				for _, id := range ids {
					if _, err := encrypt(svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: pt}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// timeFlushes times FlushLastUsage after each untimed use(), each
// followed by the merge job as the server runs it, and a merge of the
// runs left at the end, and reports the time per use written: every use
// written ends where a merge puts it.
func timeFlushes(b *testing.B, svc *Service, use func()) {
	b.ResetTimer()
	written := 0
	for b.Loop() {
		b.StopTimer()
		use()
		b.StartTimer()
		w, err := svc.FlushLastUsage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.MergeKeyUseRuns(context.Background()); err != nil {
			b.Fatal(err)
		}
		written += w
	}
	start := time.Now()
	if _, err := svc.usage.MergeAll(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((b.Elapsed()+time.Since(start)).Nanoseconds())/float64(written), "ns/use")
}

// BenchmarkFlushLastUsageAmongMany writes the uses of about a third of the
// keys of a large store, each with a use stored by an earlier flush: the
// background flush of a server whose load spreads over many keys, where
// every page of the last-usage bucket is rewritten.
func BenchmarkFlushLastUsageAmongMany(b *testing.B) {
	const n = 300_000
	ctx := context.Background()
	svc, _ := missBench(b, 0, 1)
	svc.limits.KeysPerAccount = n
	g := SeedGenerated{AccountID: "111122223333", Regions: []string{"us-east-1"}, Count: n}
	if _, err := svc.SeedGenerate(ctx, g, func(int) {}); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		region, id, _ := g.Key(i)
		keys[i] = string(keyKey(g.AccountID, region, id))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	use := func(share float64) {
		now, requestID, eventID := time.Now(), uuid.New(), uuid.New()
		for _, k := range keys {
			if rng.Float64() < share {
				svc.usage.Record(k, now, "Encrypt", requestID, eventID)
			}
		}
	}
	use(1)
	if _, err := svc.FlushLastUsage(ctx); err != nil {
		b.Fatal(err)
	}
	timeFlushes(b, svc, func() { use(0.35) })
}
