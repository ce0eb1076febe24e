package keyuse

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/uuid"
)

// BenchmarkRecordUse is what every tracked request adds: recording its
// use among many keys.
func BenchmarkRecordUse(b *testing.B) {
	tr := newTracker()
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = testKey()
	}
	requestID, eventID, now := uuid.New(), uuid.New(), time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Record(keys[i%len(keys)], now, "Encrypt", requestID, eventID)
		i++
	}
}

// BenchmarkRecordUseAmongMany records uses of random keys among a million,
// with a flush taking them every usageFlushAt uses, as a server under
// random-key load does: the tracker's maps fill again after each flush.
func BenchmarkRecordUseAmongMany(b *testing.B) {
	tr := newTracker()
	// The keys' ids, and their names made for each use, as a request makes
	// its key's: the names of a million keys held apart would be read cold.
	ids := make([]compactID, 1_000_000)
	for i := range ids {
		ids[i] = newCompactID(uuid.New())
	}
	part := partition("111122223333", "us-east-1")
	requestID, eventID, now := uuid.New(), uuid.New(), time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Record(part+ids[rng.IntN(len(ids))].String(), now, "Encrypt", requestID, eventID)
		if i++; i%usageFlushAt == 0 {
			tr.written(tr.take())
		}
	}
}
