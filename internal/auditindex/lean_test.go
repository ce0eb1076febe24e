package auditindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// indexed is what the index takes from a record: whether it is in a
// trail, which, when, its event ID and its terms.
type indexed struct {
	ok                  bool
	account, region, id string
	time                uint32
	terms               []string
}

// indexedByDecode is what the full decode of a record gives.
func indexedByDecode(body []byte) indexed {
	ev, err := decodeEvent(1, body)
	if err != nil || ev.Account == "" {
		return indexed{}
	}
	out := indexed{ok: true, account: ev.Account, region: ev.Region, id: ev.EventID, time: unixSeconds(ev.Time)}
	for _, t := range ev.terms() {
		c, _ := t.attr.code()
		out.terms = append(out.terms, fmt.Sprintf("%d=%q", c, t.value))
	}
	return out
}

// indexedByScan is what the scanner the indexer uses gives.
func indexedByScan(s *scanner, body []byte) indexed {
	return indexedBy(s, s.scan(body))
}

// indexedBy is what scanner s read, with err.
func indexedBy(s *scanner, err error) indexed {
	if err != nil || len(s.f.account) == 0 {
		return indexed{}
	}
	at, err := eventTime(s.f.eventTime)
	if err != nil {
		return indexed{}
	}
	f := &s.f
	out := indexed{ok: true, account: string(f.account), region: string(f.region), id: string(f.eventID), time: unixSeconds(at)}
	for _, t := range f.terms(nil) {
		out.terms = append(out.terms, fmt.Sprintf("%d=%q", t.code, t.value))
	}
	return out
}

// leanCorpus is records as kmsd writes them and odd or hostile ones.
func leanCorpus(t testing.TB) [][]byte {
	var out [][]byte
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, ev := range []*audit.Event{
		event(acct, "alice", "Encrypt", "k1", t0),
		event(acct, "", "ListKeys", "", t0),
		event("", "bob", "Decrypt", "k2", t0),
	} {
		b, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	out = append(out, encryptRecord(t, 9, "k9", "", t0)[:bytes.Index(encryptRecord(t, 9, "k9", "", t0), []byte(chainMarker))])
	out[len(out)-1] = append(out[len(out)-1], '}')
	for _, name := range []string{"../audit/testdata/event.golden.json", "../audit/testdata/cloudtrail_kms_events.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		var many []json.RawMessage
		if json.Unmarshal(b, &many) == nil {
			for _, r := range many {
				out = append(out, r)
			}
		}
		var wrapped struct{ Records []json.RawMessage }
		if json.Unmarshal(b, &wrapped) == nil {
			for _, r := range wrapped.Records {
				out = append(out, r)
			}
		}
	}
	base := `"eventTime":"2026-03-01T12:00:00Z","recipientAccountId":"111122223333","awsRegion":"us-east-1"`
	for _, s := range []string{
		`{` + base + `}`,
		`{` + base + `,"eventName":"Encrypt","eventName":"Decrypt"}`,
		`{` + base + `,"eventName":null,"eventSource":"kms.amazonaws.com"}`,
		`{` + base + `,"eventName":5}`,
		`{` + base + `,"readOnly":"true"}`,
		`{` + base + `,"readOnly":null,"readOnly":true}`,
		`{` + base + `,"readOnly":1}`,
		`{` + base + `,"EventName":"Encrypt","eventname":"x"}`,
		`{` + base + `,"event\u004eame":"Esc\u0041ped\n\"q\""}`,
		`{` + base + `,"eventName":"bad ` + "\xff\xfe" + ` utf8"}`,
		`{` + base + `,"eventName":"` + "\xe2\x82" + `"}`,
		`{` + base + `,"eventName":"\ud800 lone surrogate"}`,
		`{` + base + `,"eventName":"Encrypt"} {}`,
		`{` + base + `,"eventName":"Encrypt"}x`,
		`{` + base + `,"eventName":"Encrypt"}  ` + "\n",
		`{` + base + `,"eventName":"Encrypt",}`,
		`{` + base + `,"userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root","accessKeyId":"AKIAR"}}`,
		`{` + base + `,"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/App/s-1","userName":"u"}}`,
		`{` + base + `,"userIdentity":{"type":"AssumedRole","arn":"no-slash","userName":"u"}}`,
		`{` + base + `,"userIdentity":{"type":"IAMUser","userName":"a"},"userIdentity":{"accessKeyId":"AK"}}`,
		`{` + base + `,"userIdentity":{"type":"IAMUser","userName":"a"},"userIdentity":null}`,
		`{` + base + `,"userIdentity":"alice"}`,
		`{` + base + `,"userIdentity":{"userName":["x"]}}`,
		`{` + base + `,"userIdentity":{"sessionContext":{"attributes":{"x":[1,2,{"y":null}]}},"userName":"deep"}}`,
		`{` + base + `,"resources":[{"type":"AWS::KMS::Key","ARN":"a1"},null,{"ARN":"a1"},{"type":"AWS::KMS::Key","ARN":"a2","arn":"x"}]}`,
		`{` + base + `,"resources":[{"ARN":"a1"}],"resources":[{"ARN":"a2"}]}`,
		`{` + base + `,"resources":[{"ARN":"a1"}],"resources":null}`,
		`{` + base + `,"resources":[]}`,
		`{` + base + `,"resources":{"ARN":"a1"}}`,
		`{` + base + `,"resources":["a1"]}`,
		`{` + base + `,"resources":[{"ARN":7}]}`,
		`{` + base + `,"eventID":"66666666-7777-4888-9999-AAAAAAAAAAAA","unknown":{"a":[true,false,null,1.5e3,"s"]}}`,
		`{` + base + `,"eventTime":"2026-02-29T00:00:00Z"}`,
		`{` + base + `,"eventTime":"2028-02-29T23:59:59Z"}`,
		`{` + base + `,"eventTime":"2026-03-01T24:00:00Z"}`,
		`{` + base + `,"eventTime":"2026-03-01T23:59:60Z"}`,
		`{` + base + `,"eventTime":"2026-13-01T00:00:00Z"}`,
		`{` + base + `,"eventTime":"0000-01-01T00:00:00Z"}`,
		`{` + base + `,"eventTime":"2026-03-01T12:00:00.999+02:00"}`,
		`{` + base + `,"eventTime":"2026-03-01t12:00:00z"}`,
		`{` + base + `,"eventTime":"+026-03-01T12:00:00Z"}`,
		`{` + base + `,"eventTime":null}`,
		`{` + base + `,"recipientAccountId":""}`,
		`{` + base + `,"recipientAccountId":null}`,
		`{"recipientAccountId":"1","eventTime":"2026-03-01T12:00:00Z"}`,
		`null`, `[]`, `"x"`, `{}`, ``, `{`, `{"eventTime":`,
		`{` + base + `,"eventName":"` + strings.Repeat("n", 5000) + `"}`,
		// Escapes, numbers and nesting in members the index skips, and
		// near misses of JSON there.
		`{` + base + `,"userAgent":"a\"b\\c\/\u00e9\u2028\n\b\f\r\t","eventName":"E"}`,
		`{` + base + `,"userAgent":"\ud83d\ude00","eventName":"E"}`,
		`{` + base + `,"userAgent":"\ud83d","eventName":"E"}`,
		`{` + base + `,"userAgent":"\q","eventName":"E"}`,
		`{` + base + `,"userAgent":"\u12G4","eventName":"E"}`,
		`{` + base + `,"userAgent":"\u12","eventName":"E"}`,
		`{` + base + `,"userAgent":"tab` + "\t	" + `","eventName":"E"}`,
		`{` + base + `,"userAgent":"` + "\x7f\xc3\xa9\xff" + `","eventName":"E"}`,
		`{` + base + `,"n":[0,-0,1.5,-2.5e10,3E+2,4e-3,-0.0e0,12345678901234567890],"eventName":"E"}`,
		`{` + base + `,"n":01}`, `{` + base + `,"n":1.}`, `{` + base + `,"n":-}`, `{` + base + `,"n":.5}`,
		`{` + base + `,"n":1e}`, `{` + base + `,"n":+1}`, `{` + base + `,"n":1.5e+}`, `{` + base + `,"n":-a}`,
		`{` + base + `,"x":tru}`, `{` + base + `,"x":nul}`, `{` + base + `,"x":falsey}`, `{` + base + `,"x":True}`,
		`{` + base + `,"x":{"a":1,}}`, `{` + base + `,"x":[1,]}`, `{` + base + `,"x":[1 2]}`, `{` + base + `,"x":{"a" 1}}`,
		`{` + base + `,"x":{1:2}}`, `{` + base + `,"x":{"\u0061":[{},[],{"":""}]},"eventName":"E"}`,
		`{` + base + `,"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `,"eventName":"E"}`,
		`{` + base + `,"x":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70) + `,"eventName":"E"}`,
		`{` + base + `,"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 69) + `}`,
		`{` + base + `,"recipientAccountId":"\u0031"}`,
		`{` + base + `,"recipientAccountId":"` + "\xff" + `"}`,
		`{` + base + `,"awsRegion":"eu-west-1"` + "\x00" + `}`,
		" \t\r\n{" + base + `,"eventName":"E"}` + " \t\r\n",
		`{` + base + `,"eventName":"E"}}`, `{` + base + `,"eventName":"E"]`, `{` + base + `,"eventName" "E"}`,
		`{` + base + `,"resources":[null,{"type":null,"ARN":"a"},{"ARN":"b","type":"T","x":{"ARN":"c"}}]}`,
		`{` + base + `,"resources":[{"type":"T"}]x}`, `{` + base + `,"resources":[{"type":true}]}`,
		`{` + base + `,"resources":[{"\u0041RN":"a"}]}`, `{` + base + `,"userIdentity":{"\u0074ype":"Root"}}`,
		`{` + base + `,"userIdentity":{"type":"Root"},"userIdentity":{"arn":"x"}}`,
		`{` + base + `,"readOnly":false,"readOnly":tru}`, `{` + base + `,"readOnly":"x"}`,
		`{"eventTime":"2026-03-01T12:00:00Z","recipientAccountId":"111122223333","recipientAccountId":null}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// TestScanIndexesAsTheFullDecodeDoes compares, record by record, what the
// indexer's scanner takes from a record with what the full decode gives.
func TestScanIndexesAsTheFullDecodeDoes(t *testing.T) {
	var s scanner
	found := 0
	for i, body := range leanCorpus(t) {
		want, got := indexedByDecode(body), indexedByScan(&s, body)
		if !equalIndexed(want, got) {
			t.Errorf("record %d %.200q:\nscan   %+v\ndecode %+v", i, body, got, want)
		}
		if got.ok {
			found++
		}
	}
	if found < 30 {
		t.Errorf("only %d records of the corpus are in a trail", found)
	}
}

// TestFastScanTakesKmsdRecords checks that the scanner's fast path reads
// the records kmsd writes, and that what it reads of any record it takes
// is what the decoder gives.
func TestFastScanTakesKmsdRecords(t *testing.T) {
	var fast, slow scanner
	taken := 0
	for i, body := range leanCorpus(t) {
		if !fast.fast(body) {
			if i < 4 {
				t.Errorf("record %d, as kmsd writes them, is left to the decoder", i)
			}
			continue
		}
		taken++
		if got, want := indexedBy(&fast, nil), indexedBy(&slow, slow.decode(body)); !equalIndexed(got, want) {
			t.Errorf("record %d %.200q:\nfast    %+v\ndecoder %+v", i, body, got, want)
		}
	}
	if taken < 40 {
		t.Errorf("the fast path takes only %d records of the corpus", taken)
	}
}

func equalIndexed(a, b indexed) bool {
	return a.ok == b.ok && a.account == b.account && a.region == b.region && a.id == b.id && a.time == b.time && slices.Equal(a.terms, b.terms)
}

// FuzzScan compares the scanner with the full decode on arbitrary records.
func FuzzScan(f *testing.F) {
	for _, b := range leanCorpus(f) {
		f.Add(b)
	}
	var s scanner
	f.Fuzz(func(t *testing.T, body []byte) {
		want, got := indexedByDecode(body), indexedByScan(&s, body)
		if !equalIndexed(want, got) {
			t.Fatalf("record %q:\nscan   %+v\ndecode %+v", body, got, want)
		}
	})
}

// TestLookupByKMSEventSourceSkipsOtherSources looks up by KMS's event
// source, which has no postings of its own, among events of other sources
// and none, page by page: only KMS's events are found, each once, and no
// page is empty (the oldest event, of another source, follows a full
// page of KMS's).
func TestLookupByKMSEventSourceSkipsOtherSources(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "log.jsonl"), Options{})
	t0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	var kms, sts []*audit.Event
	for i := range 12 {
		ev := event(acct, "alice", "Encrypt", "k1", t0.Add(time.Duration(i)*time.Second))
		switch i % 3 {
		case 0:
			ev.EventSource = "sts.amazonaws.com"
			sts = append(sts, ev)
		case 1:
			kms = append(kms, ev)
		case 2:
			ev.EventSource = audit.EventSource
			kms = append(kms, ev)
		}
		tr.append(ev)
	}
	slices.Reverse(kms)
	slices.Reverse(sts)
	for _, c := range []struct {
		source string
		want   []*audit.Event
	}{{audit.EventSource, kms}, {"sts.amazonaws.com", sts}} {
		var got []string
		q := Query{Attr: EventSource, Value: c.source, Limit: 4}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			p := tr.lookup(q)
			if len(p.Events) == 0 {
				t.Errorf("EventSource=%s: page %d is empty", c.source, pages)
			}
			got = append(got, ids(p)...)
			if p.Next == nil {
				break
			}
			q.After = p.Next
		}
		if !slices.Equal(got, idsOf(c.want...)) {
			t.Errorf("EventSource=%s: got %v, want %v", c.source, got, idsOf(c.want...))
		}
	}
}

// TestPlainRun compares the word-at-a-time search for the byte that ends
// a string's plain run with a byte-by-byte one.
func TestPlainRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', 0x23, '\\', 0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xa2, 0xdc, 0xff}
	for range 200000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			switch rng.IntN(8) {
			case 0:
				b[i] = interesting[rng.IntN(len(interesting))]
			case 1:
				b[i] = byte(rng.IntN(256))
			default:
				b[i] = 'a' + byte(rng.IntN(26))
			}
		}
		from := rng.IntN(len(b) + 1)
		want := from
		for want < len(b) && plainByte[b[want]] {
			want++
		}
		if got := plainRun(b, from); got != want {
			t.Fatalf("plainRun(%x, %d) = %d, want %d", b, from, got, want)
		}
	}
}

// TestParseSeq compares the parse of a line's seq with strconv's.
func TestParseSeq(t *testing.T) {
	for _, s := range []string{"", "0", "1", "007", "42", "18446744073709551615", "18446744073709551616",
		"99999999999999999999", "184467440737095516150", "1a", "-1", "+1", "1_0", " 1", "0x1"} {
		want, err := strconv.ParseUint(s, 10, 64)
		got, ok := parseSeq([]byte(s))
		if ok != (err == nil) || ok && got != want {
			t.Errorf("parseSeq(%q) = %d, %v; strconv gives %d, %v", s, got, ok, want, err)
		}
	}
}
