package kms

import (
	"context"
	"fmt"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
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
			b.ResetTimer()
			written := 0
			for b.Loop() {
				b.StopTimer()
				for _, id := range ids {
					if _, err := encrypt(svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: pt}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				w, err := svc.FlushLastUsage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				written += w
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(written), "ns/use")
		})
	}
}
