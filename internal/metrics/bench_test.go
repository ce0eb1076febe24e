package metrics

import (
	"testing"
	"time"
)

// BenchmarkObserveRequest is the cost metrics add to each KMS request:
// one histogram observation and one counter increment on cached series.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(nil)
	for _, c := range []struct{ name, outcome string }{{"ok", OutcomeOK}, {"exception", "AccessDeniedException"}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.ObserveRequest("Encrypt", c.outcome, 150*time.Microsecond)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.ObserveRequest("Encrypt", OutcomeOK, 150*time.Microsecond)
			}
		})
	})
}
