package auditindex

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIndexManyKeys indexes the records of a server with a million
// keys: first one record naming each key, in random order (a million
// ResourceName terms, not timed), then Encrypt records on keys drawn at
// random, 10,000 a second in one commit a second, so that nearly every
// record's ResourceName term is one the commit has no other posting of:
// 128 commits, long enough to take the merges of their segments.
// It reports the CPU time, allocations and bytes allocated per record of
// the timed part, which must stay near what a server with one key pays,
// and the most live heap a collection found during its commits.
// One op is the whole run: use -benchtime=1x.
func BenchmarkIndexManyKeys(b *testing.B) {
	const keys, timed, round = 1_000_000, 1_280_000, 10_000
	// One record made, then copied with its key, ID, time and seq changed:
	// making 1.3 million of them would take longer than indexing them.
	const keyMark, idMark, timeMark = "ffffffff-0000-4000-8000-eeeeeeeeeeee", "ffffffff-ffff-4fff-bfff-ffffffffffff", "2000-01-01T00:00:00Z"
	tmpl := encryptRecord(b, 1, keyMark, idMark, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	tmpl = tmpl[:bytes.LastIndex(tmpl, []byte(chainMarker))+len(chainMarker)]
	idAt, timeAt := bytes.Index(tmpl, []byte(idMark)), bytes.Index(tmpl, []byte(timeMark))
	var keyAt []int
	for i := 0; ; {
		j := bytes.Index(tmpl[i:], []byte(keyMark))
		if j < 0 {
			break
		}
		keyAt, i = append(keyAt, i+j), i+j+len(keyMark)
	}
	tail := []byte(`,"prev":"` + zeros + `","hash":"` + zeros + `"}}` + "\n")
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var cpu time.Duration
	var allocs, bytesAlloc, peak uint64
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rng := rand.New(rand.NewPCG(11, 12))
		ix, err := Open(filepath.Join(b.TempDir(), "log.jsonl"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		order := rng.Perm(keys)
		var off int64
		var lines []byte
		for seq := 1; seq <= keys+timed; seq += round {
			lines = lines[:0]
			for i := range round {
				at := t0.Add(time.Duration(seq+i) * time.Second / round)
				k := rng.IntN(keys)
				if seq+i <= keys {
					k = order[seq+i-1]
				}
				lines = append(lines, tmpl...)
				rec := lines[len(lines)-len(tmpl):]
				copy(rec[idAt:], eventIDAt("v7", rng, at))
				copy(rec[timeAt:], at.Format(time.RFC3339))
				key := fmt.Appendf(nil, "%08x-0000-4000-8000-%012x", k, keys)
				for _, at := range keyAt {
					copy(rec[at:], key)
				}
				lines = append(strconv.AppendUint(lines, uint64(seq+i), 10), tail...)
			}
			timing := seq > keys
			var ms0 runtime.MemStats
			stop := make(chan struct{})
			sampled := make(chan uint64)
			if timing {
				runtime.ReadMemStats(&ms0)
				go func() {
					var most uint64
					for t := time.NewTicker(5 * time.Millisecond); ; {
						metrics.Read(sample)
						most = max(most, sample[0].Value.Uint64())
						select {
						case <-t.C:
						case <-stop:
							t.Stop()
							sampled <- most
							return
						}
					}
				}()
				b.StartTimer()
			}
			cpu0 := cpuTime(b)
			// Labeled, for a profile of the timed part: -tagfocus phase=true.
			var err error
			pprof.Do(context.Background(), pprof.Labels("phase", strconv.FormatBool(timing)), func(context.Context) {
				err = ix.apply([]batch{{first: uint64(seq), offset: off, lines: lines}}, false, off+int64(len(lines)))
			})
			if err != nil {
				b.Fatal(err)
			}
			if timing {
				cpu += cpuTime(b) - cpu0
				b.StopTimer()
				var ms1 runtime.MemStats
				runtime.ReadMemStats(&ms1)
				close(stop)
				peak = max(peak, <-sampled)
				allocs += ms1.Mallocs - ms0.Mallocs
				bytesAlloc += ms1.TotalAlloc - ms0.TotalAlloc
			}
			off += int64(len(lines))
		}
		if ix.st.LastSeq != keys+timed {
			b.Fatalf("indexed up to %d of %d", ix.st.LastSeq, keys+timed)
		}
		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N) * timed
	b.ReportMetric(float64(cpu)/n, "cpu-ns/rec")
	b.ReportMetric(float64(allocs)/n, "allocs/rec")
	b.ReportMetric(float64(bytesAlloc)/n, "B/rec")
	b.ReportMetric(float64(peak)/(1<<20), "peak-live-MB")
}

// BenchmarkLookupWithSegments looks up the events of one key among
// 640,000 records on 100,000 keys, indexed 10,000 a commit, with the
// postings merged into "postings" or left in 64 segments: what a
// lookup pays for each segment it reads. One op is one lookup.
func BenchmarkLookupWithSegments(b *testing.B) {
	const keys, commits, round = 100_000, 64, 10_000
	_, allRecent, _, _ := testPolicies()
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	path := filepath.Join(b.TempDir(), "log.jsonl")
	ix, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	ix.merge = allRecent
	var log []byte
	for c := range commits {
		bt := batch{first: uint64(c*round + 1), offset: int64(len(log))}
		for i := range round {
			seq := c*round + i + 1
			at := t0.Add(time.Duration(seq) * time.Second / round)
			key := fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.IntN(keys), keys)
			bt.lines = append(bt.lines, encryptRecord(b, uint64(seq), key, eventIDAt("v7", rng, at), at)...)
		}
		log = append(log, bt.lines...)
		if err := os.WriteFile(path, log, 0o600); err != nil {
			b.Fatal(err)
		}
		if err := ix.apply([]batch{bt}, false, int64(len(log))); err != nil {
			b.Fatal(err)
		}
	}
	for _, merged := range []bool{false, true} {
		if merged {
			if err := ix.mergeRecent(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("segments=%d", ix.st.NextSegment), func(b *testing.B) {
			found := 0
			for i := 0; b.Loop(); i++ {
				arn := fmt.Sprintf("arn:aws:kms:%s:%s:key/%08x-0000-4000-8000-%012x", region, acct, i%keys, keys)
				p, err := ix.Lookup(context.Background(), Query{Account: acct, Region: region, Attr: ResourceName, Value: arn, Limit: 10})
				if err != nil {
					b.Fatal(err)
				}
				found += len(p.Events)
			}
			b.ReportMetric(float64(found)/float64(b.N), "events/op")
		})
	}
}
