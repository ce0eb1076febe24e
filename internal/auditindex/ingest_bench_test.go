package auditindex

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/uuid"
)

// encryptRecord is the line kmsd writes for an Encrypt call by an IAM user
// on key, with its chain member.
func encryptRecord(tb testing.TB, seq uint64, key string, at time.Time) []byte {
	tb.Helper()
	arn := "arn:aws:kms:" + region + ":" + acct + ":key/" + key
	ev := &audit.Event{
		EventVersion: "1.11",
		UserIdentity: audit.UserIdentity{Type: "IAMUser", PrincipalID: "AIDAEXAMPLEALICE", ARN: "arn:aws:iam::" + acct + ":user/alice",
			AccountID: acct, AccessKeyID: "AKIAEXAMPLEALICE", UserName: "alice"},
		EventTime: at, EventSource: audit.EventSource, EventName: "Encrypt", AWSRegion: region,
		SourceIPAddress: "192.0.2.10", UserAgent: "aws-sdk-go-v2/1.36.3 os/linux lang/go#1.26 md/GOOS#linux api/kms#1.38.1 m/E",
		RequestParameters: map[string]any{"keyId": arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
			"encryptionContext": map[string]any{"tenant": "t-42"}},
		RequestID: uuid.New(), EventID: uuid.New(), ReadOnly: true,
		Resources: []audit.Resource{{AccountID: acct, Type: "AWS::KMS::Key", ARN: arn}},
		EventType: audit.EventType, ManagementEvent: true, RecipientAccountID: acct, EventCategory: audit.EventCategory,
	}
	body, err := ev.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	line := append(body[:len(body)-1:len(body)-1], chainMarker...)
	line = strconv.AppendUint(line, seq, 10)
	return append(line, `,"prev":"`+zeros+`","hash":"`+zeros+`"}}`+"\n"...)
}

// BenchmarkIndexRecords indexes Encrypt records as the log reports them
// durable, a round of records at a time (what one commit interval
// gathers: 256 records, or 4096 of a busy server over a second), on one
// key and on keys drawn from 200,000 (a new term for most records). One
// op is one record.
func BenchmarkIndexRecords(b *testing.B) {
	for _, c := range []struct{ keys, round int }{{1, 256}, {200000, 256}, {1, 4096}, {200000, 4096}} {
		keys, benchRound := c.keys, c.round
		b.Run(fmt.Sprintf("keys=%d/round=%d", keys, benchRound), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, uint64(keys)))
			t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			var rounds []batch
			var off int64
			for first := 1; first <= b.N; first += benchRound {
				bt := batch{first: uint64(first), offset: off}
				for seq := first; seq < first+benchRound && seq <= b.N; seq++ {
					key := fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.IntN(keys), keys)
					bt.lines = append(bt.lines, encryptRecord(b, uint64(seq), key, t0.Add(time.Duration(seq)*time.Millisecond))...)
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

// cpuTime is the CPU time (user and system) the process has used: the
// indexer's cost, which wall time hides behind fsync waits.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
