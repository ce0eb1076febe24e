package auditindex

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/uuid"
)

// encryptRecord is the line kmsd writes for an Encrypt call by an IAM user
// on key, with event ID id (a new random one if empty) and its chain
// member.
func encryptRecord(tb testing.TB, seq uint64, key, id string, at time.Time) []byte {
	tb.Helper()
	if id == "" {
		id = uuid.New()
	}
	arn := "arn:aws:kms:" + region + ":" + acct + ":key/" + key
	ev := &audit.Event{
		EventVersion: "1.11",
		UserIdentity: audit.UserIdentity{Type: "IAMUser", PrincipalID: "AIDAEXAMPLEALICE", ARN: "arn:aws:iam::" + acct + ":user/alice",
			AccountID: acct, AccessKeyID: "AKIAEXAMPLEALICE", UserName: "alice"},
		EventTime: at, EventSource: audit.EventSource, EventName: "Encrypt", AWSRegion: region,
		SourceIPAddress: "192.0.2.10", UserAgent: "aws-sdk-go-v2/1.36.3 os/linux lang/go#1.26 md/GOOS#linux api/kms#1.38.1 m/E",
		RequestParameters: map[string]any{"keyId": arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
			"encryptionContext": map[string]any{"tenant": "t-42"}},
		RequestID: uuid.New(), EventID: id, ReadOnly: true,
		Resources: []audit.Resource{{AccountID: acct, Type: "AWS::KMS::Key", ARN: arn}},
		EventType: audit.EventType, ManagementEvent: true, RecipientAccountID: acct, EventCategory: audit.EventCategory,
	}
	return recordLine(tb, seq, ev)
}

// eventIDAt returns a record's event ID as kmsd makes it: random (v4, as
// kmsd wrote them at first) or time-ordered (v7) from the time its call
// started, up to 2 ms before the record is written, so that concurrent
// calls' IDs reach the log nearly, not exactly, in order.
func eventIDAt(kind string, rng *rand.Rand, at time.Time) string {
	if kind == "v4" {
		return uuid.New()
	}
	return uuid.NewTimeOrdered(at.Add(-time.Duration(rng.IntN(2000)) * time.Microsecond))
}

// BenchmarkIndexRecords indexes Encrypt records as the log reports them
// durable, a round of records at a time (what one commit interval
// gathers: 256 records, or 4096 of a busy server over a second), on one
// key and on keys drawn from 200,000 (a new term for most records), with
// random or time-ordered event IDs. One op is one record.
func BenchmarkIndexRecords(b *testing.B) {
	for _, c := range []struct{ keys, round int }{{1, 256}, {200000, 256}, {1, 4096}, {200000, 4096}} {
		for _, ids := range []string{"v4", "v7"} {
			keys, benchRound := c.keys, c.round
			b.Run(fmt.Sprintf("keys=%d/round=%d/ids=%s", keys, benchRound, ids), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(7, uint64(keys)))
				t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
				var rounds []batch
				var off int64
				for first := 1; first <= b.N; first += benchRound {
					bt := batch{first: uint64(first), offset: off}
					for seq := first; seq < first+benchRound && seq <= b.N; seq++ {
						key := fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.IntN(keys), keys)
						at := t0.Add(time.Duration(seq) * time.Millisecond)
						bt.lines = append(bt.lines, encryptRecord(b, uint64(seq), key, eventIDAt(ids, rng, at), at)...)
					}
					off += int64(len(bt.lines))
					rounds = append(rounds, bt)
				}
				ix, err := Open(filepath.Join(b.TempDir(), "log.jsonl"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ix.Close() })
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for _, bt := range rounds {
					if err := ix.apply([]batch{bt}, false, bt.offset+int64(len(bt.lines))); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
				if ix.st.LastSeq != uint64(b.N) {
					b.Fatalf("indexed up to %d of %d", ix.st.LastSeq, b.N)
				}
			})
		}
	}
}

// growthRecords is how many records BenchmarkIndexGrowth indexes: a few
// minutes of a busy server, and an index file of tens of megabytes.
const growthRecords = 1_000_000

// BenchmarkIndexGrowth indexes a log of a million Encrypt records on one
// key, 8,300 a second, in rounds of 4096, and reports the CPU time per
// record of the first and the last 100,000: the cost of a record must not
// grow with the index. One op is the whole log.
func BenchmarkIndexGrowth(b *testing.B) {
	const round, window = 4096, 100_000
	for _, ids := range []string{"v4", "v7"} {
		b.Run("ids="+ids, func(b *testing.B) {
			// One record made, then copied with its ID, time and seq changed:
			// making a million of them would take longer than indexing them.
			const idMark, timeMark = "ffffffff-ffff-4fff-bfff-ffffffffffff", "2000-01-01T00:00:00Z"
			tmpl := encryptRecord(b, 1, "k1", idMark, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
			tmpl = tmpl[:bytes.LastIndex(tmpl, []byte(chainMarker))+len(chainMarker)]
			idAt, timeAt := bytes.Index(tmpl, []byte(idMark)), bytes.Index(tmpl, []byte(timeMark))
			tail := []byte(`,"prev":"` + zeros + `","hash":"` + zeros + `"}}` + "\n")
			rng := rand.New(rand.NewPCG(7, 7))
			t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			var first, last, total time.Duration
			var firstN, lastN, size int64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				ix, err := Open(filepath.Join(dir, "log.jsonl"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				var off int64
				var lines []byte
				for seq := 1; seq <= growthRecords; seq += round {
					lines = lines[:0]
					n := min(round, growthRecords+1-seq)
					for i := range n {
						at := t0.Add(time.Duration(seq+i) * time.Second / 8300)
						lines = append(lines, tmpl...)
						rec := lines[len(lines)-len(tmpl):]
						copy(rec[idAt:], eventIDAt(ids, rng, at))
						copy(rec[timeAt:], at.Format(time.RFC3339))
						lines = append(strconv.AppendUint(lines, uint64(seq+i), 10), tail...)
					}
					b.StartTimer()
					cpu0 := cpuTime(b)
					if err := ix.apply([]batch{{first: uint64(seq), offset: off, lines: lines}}, false, off+int64(len(lines))); err != nil {
						b.Fatal(err)
					}
					d := cpuTime(b) - cpu0
					b.StopTimer()
					off += int64(len(lines))
					total += d
					if seq <= window {
						first, firstN = first+d, firstN+int64(n)
					}
					if seq+n-1 > growthRecords-window {
						last, lastN = last+d, lastN+int64(n)
					}
				}
				if ix.st.LastSeq != growthRecords {
					b.Fatalf("indexed up to %d of %d", ix.st.LastSeq, growthRecords)
				}
				if err := ix.Close(); err != nil {
					b.Fatal(err)
				}
				fi, err := os.Stat(filepath.Join(dir, "log.jsonl.index"))
				if err != nil {
					b.Fatal(err)
				}
				size += fi.Size()
				b.StartTimer()
			}
			// The windows are whole rounds: a little over window records each.
			b.ReportMetric(float64(total)/float64(b.N)/growthRecords, "cpu-ns/rec")
			b.ReportMetric(float64(first)/float64(firstN), "first-cpu-ns/rec")
			b.ReportMetric(float64(last)/float64(lastN), "last-cpu-ns/rec")
			b.ReportMetric(float64(size)/float64(b.N)/(1<<20), "index-MB")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used: the
// indexer's cost, which wall time hides behind fsync waits.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
