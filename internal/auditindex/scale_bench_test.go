package auditindex

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIndexManyKeys indexes the records of a server with a million
// keys: first one record naming each key, in random order (a million
// ResourceName terms, not timed), then Encrypt records on keys drawn at
// random, 10,000 a second in one commit a second, so that nearly every
// record's ResourceName term is one the commit has no other posting of.
// It reports the CPU time, allocations and bytes allocated per record of
// the timed part, which must stay near what a server with one key pays.
// One op is the whole run: use -benchtime=1x.
func BenchmarkIndexManyKeys(b *testing.B) {
	const keys, timed, round = 1_000_000, 300_000, 10_000
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
	var allocs, bytesAlloc uint64
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
			if timing {
				runtime.ReadMemStats(&ms0)
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
}
