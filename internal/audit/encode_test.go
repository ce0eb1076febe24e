package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// wireOf is the eventWire form encoding/json marshalled before MarshalJSON
// had its own encoder; it is the reference the encoder must match.
func wireOf(e *Event) eventWire {
	return eventWire{
		EventVersion:        e.EventVersion,
		UserIdentity:        e.UserIdentity,
		EventTime:           e.EventTime.UTC().Format(timeLayout),
		EventSource:         e.EventSource,
		EventName:           e.EventName,
		AWSRegion:           e.AWSRegion,
		SourceIPAddress:     e.SourceIPAddress,
		UserAgent:           e.UserAgent,
		ErrorCode:           e.ErrorCode,
		ErrorMessage:        e.ErrorMessage,
		RequestParameters:   e.RequestParameters,
		ResponseElements:    e.ResponseElements,
		AdditionalEventData: e.AdditionalEventData,
		RequestID:           e.RequestID,
		EventID:             e.EventID,
		ReadOnly:            e.ReadOnly,
		Resources:           e.Resources,
		EventType:           e.EventType,
		ManagementEvent:     e.ManagementEvent,
		RecipientAccountID:  e.RecipientAccountID,
		EventCategory:       e.EventCategory,
		TLSDetails:          e.TLSDetails,
	}
}

// checkSameAsReflect fails t unless MarshalJSON, and json.Marshal of the
// event, write exactly what encoding/json writes for the event's wire form.
func checkSameAsReflect(t testing.TB, e *Event) {
	t.Helper()
	want, wantErr := json.Marshal(wireOf(e))
	got, err := e.MarshalJSON()
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("MarshalJSON error %v, encoding/json error %v", err, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalJSON differs from encoding/json:\n got %s\nwant %s", got, want)
	}
	viaJSON, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(viaJSON, want) {
		t.Fatalf("json.Marshal(event) differs from encoding/json:\n got %s\nwant %s", viaJSON, want)
	}
}

// trickyStrings exercise every escaping rule of encoding/json.
var trickyStrings = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>",
	"ctl \x00\x01\x07\b\t\n\v\f\r\x1b\x1f\x7f end", "line\u2028para\u2029sep",
	"invalid \xff\xfe utf8 \xc3", "truncated \xe2\x82", "surrogate \xed\xa0\x80",
	"non-ASCII é ü 日本語 🔑", "\ufffd literal", "\u2027\u202a near", "/slash/",
	"a\x80b", "overlong \xc0\xaf", "\xf4\x90\x80\x80 past max",
}

// typedEvent is encryptEvent with the free-form maps holding every value
// type the encoder handles, and some it leaves to encoding/json.
func typedEvent() *Event {
	ev := encryptEvent()
	type named string
	ev.RequestParameters = map[string]any{
		"s": "x", "t": true, "f": false, "nil": nil,
		"i": int(-3), "i8": int8(-8), "i16": int16(16), "i32": int32(-32), "i64": int64(math.MinInt64),
		"u": uint(3), "u8": uint8(255), "u16": uint16(16), "u32": uint32(32), "u64": uint64(math.MaxUint64),
		"f64": 1.5, "f64e": 1e21, "f64small": 1e-7, "f64neg": -2.5e-9, "f64zero": 0.0, "f64big": 123456789.125,
		"f32": float32(3.14), "f32e": float32(1e-7), "f32big": float32(1e21),
		"ms":     map[string]string{"b": "2", "a": "1", "<k>": "&v"},
		"msnil":  map[string]string(nil),
		"manil":  map[string]any(nil),
		"maempt": map[string]any{},
		"la":     []any{"a", 1, nil, []any{}, map[string]any{"z": 1, "y": []string{"q"}}},
		"lanil":  []any(nil),
		"ls":     []string{"x", "<y>"},
		"lsnil":  []string(nil),
		"named":  named("n<"),
		"bytes":  []byte("raw\x00"),
		"time":   time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		"raw":    json.RawMessage(` { "a" : [1, 2] } `),
		"num":    json.Number("12.5"),
		"ptr":    new(int),
		"struct": struct{ A string }{"<a>"},
		"mi":     map[int]string{2: "b", 10: "a"},
	}
	ev.ResponseElements = map[string]any{}
	ev.AdditionalEventData = map[string]any{"keyMaterialId": "00"}
	return ev
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	events := map[string]*Event{
		"full":    fullEvent(),
		"encrypt": encryptEvent(),
		"typed":   typedEvent(),
		"new":     NewEvent("ListKeys", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		"zero":    {},
	}
	emptyMaps := fullEvent()
	emptyMaps.RequestParameters, emptyMaps.ResponseElements, emptyMaps.AdditionalEventData = map[string]any{}, map[string]any{}, map[string]any{}
	emptyMaps.Resources = []Resource{}
	emptyMaps.TLSDetails.KeyExchange = ""
	emptyMaps.UserIdentity.SessionContext.SessionIssuer = nil
	emptyMaps.UserIdentity.SessionContext.SourceIdentity = ""
	events["emptyMaps"] = emptyMaps
	noIssuer := fullEvent()
	noIssuer.UserIdentity.SessionContext = &SessionContext{}
	events["emptySessionContext"] = noIssuer
	for i, y := range []int{-1, 0, 1, 999, 9999, 10000, 123456} {
		ev := encryptEvent()
		ev.EventTime = time.Date(y, 12, 31, 23, 59, 59, 0, time.FixedZone("X", -3600))
		events["year"+string(rune('a'+i))] = ev
	}
	many := encryptEvent()
	for i := range 40 {
		many.RequestParameters[strings.Repeat("k", i%7)+string(rune('A'+i))] = i
	}
	events["manyKeys"] = many
	deep := encryptEvent()
	var v any = "leaf"
	for i := range 100 {
		if i%2 == 0 {
			v = map[string]any{"d": v}
		} else {
			v = []any{v}
		}
	}
	deep.RequestParameters["deep"] = v
	events["deep"] = deep
	for _, s := range trickyStrings {
		ev := fullEvent()
		setAllStrings(ev, s)
		events["tricky "+s] = ev
	}
	for name, ev := range events {
		t.Run(name, func(t *testing.T) { checkSameAsReflect(t, ev) })
	}
}

func TestMarshalErrorsLikeEncodingJSON(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	for name, v := range map[string]any{
		"nan": math.NaN(), "inf": math.Inf(1), "inf32": float32(math.Inf(-1)),
		"chan": make(chan int), "func": func() {}, "cyclic": cyclic,
	} {
		t.Run(name, func(t *testing.T) {
			ev := encryptEvent()
			ev.ResponseElements = map[string]any{"v": []any{v}}
			_, wantErr := json.Marshal(wireOf(ev))
			_, err := ev.MarshalJSON()
			if err == nil || wantErr == nil || err.Error() != wantErr.Error() {
				t.Fatalf("MarshalJSON error %v, encoding/json error %v", err, wantErr)
			}
		})
	}
}

// setAllStrings sets every string field of ev, and the keys and values of
// its free-form maps, from s.
func setAllStrings(ev *Event, s string) {
	ui := &ev.UserIdentity
	for _, p := range []*string{&ev.EventVersion, &ev.EventSource, &ev.EventName, &ev.AWSRegion, &ev.SourceIPAddress,
		&ev.UserAgent, &ev.ErrorCode, &ev.ErrorMessage, &ev.RequestID, &ev.EventID, &ev.EventType,
		&ev.RecipientAccountID, &ev.EventCategory, &ui.Type, &ui.PrincipalID, &ui.ARN, &ui.AccountID,
		&ui.AccessKeyID, &ui.UserName, &ui.InvokedBy, &ui.SessionContext.SourceIdentity,
		&ui.SessionContext.Attributes.CreationDate, &ui.SessionContext.Attributes.MFAAuthenticated,
		&ui.SessionContext.SessionIssuer.Type, &ui.SessionContext.SessionIssuer.ARN,
		&ev.TLSDetails.TLSVersion, &ev.TLSDetails.CipherSuite, &ev.TLSDetails.ClientProvidedHostHeader,
		&ev.TLSDetails.KeyExchange, &ev.Resources[0].ARN, &ev.Resources[0].Type, &ev.Resources[0].AccountID} {
		*p = s
	}
	ev.RequestParameters[s] = s
	ev.RequestParameters["l"] = []any{s, map[string]string{s: s}}
	ev.ResponseElements[s+"x"] = []string{s}
	ev.AdditionalEventData[s] = map[string]any{s: s}
}

// randString returns a short string drawn from bytes and runes that stress
// the escaper.
func randString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "0", " ", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\n", "\t", "\b", "\f", "\r",
		"\x7f", "\x80", "\xff", "\xc3", "é", "日", "🔑", "\u2028", "\u2029", "\ufffd", "\xed\xa0\x80", "/", "'"}
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// randValue returns a random free-form value of the kinds kmsd records.
func randValue(r *rand.Rand, depth int) any {
	n := 9
	if depth > 3 {
		n = 5
	}
	switch r.IntN(n) {
	case 0:
		return randString(r)
	case 1:
		return r.IntN(2) == 0
	case 2:
		return int64(r.Uint64())
	case 3:
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7ff))<<52)
	case 4:
		return nil
	case 5:
		m := map[string]string{}
		for range r.IntN(4) {
			m[randString(r)] = randString(r)
		}
		return m
	case 6:
		return randMap(r, depth+1)
	case 7:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randValue(r, depth+1)
		}
		return l
	default:
		l := make([]string, r.IntN(4))
		for i := range l {
			l[i] = randString(r)
		}
		return l
	}
}

func randMap(r *rand.Rand, depth int) map[string]any {
	if r.IntN(8) == 0 {
		return nil
	}
	m := map[string]any{}
	for range r.IntN(6) {
		m[randString(r)] = randValue(r, depth)
	}
	return m
}

func TestMarshalMatchesEncodingJSONRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		ev := fullEvent()
		setAllStrings(ev, randString(r))
		ev.EventName, ev.UserAgent, ev.ErrorMessage = randString(r), randString(r), randString(r)
		ev.RequestParameters, ev.ResponseElements, ev.AdditionalEventData = randMap(r, 0), randMap(r, 0), randMap(r, 0)
		if r.IntN(3) == 0 {
			ev.TLSDetails = nil
		}
		if r.IntN(3) == 0 {
			ev.UserIdentity.SessionContext = nil
		}
		ev.Resources = ev.Resources[:r.IntN(2)]
		ev.EventTime = time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9))
		ev.ReadOnly = r.IntN(2) == 0
		if !t.Run("", func(t *testing.T) { checkSameAsReflect(t, ev) }) {
			t.Fatalf("event %d differs", i)
		}
	}
}

func FuzzMarshalEvent(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s, int64(0), 1.5)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64, x float64) {
		ev := fullEvent()
		setAllStrings(ev, a)
		ev.UserAgent = b
		ev.EventTime = time.Unix(n%(1<<40), 0)
		ev.RequestParameters[b] = []any{a, n, x, map[string]any{a: b, b: x}}
		ev.ResponseElements = map[string]any{a: map[string]string{b: a}, "n": n}
		checkSameAsReflect(t, ev)
	})
}

func TestChainHasherReuse(t *testing.T) {
	var c chainHasher
	var prev [hashSize]byte
	for seq := uint64(1); seq < 50; seq++ {
		body := []byte(`{"n":"` + strings.Repeat("x", int(seq)*37) + `"}`)
		wantLine, want := appendLine(nil, body, seq, &prev)
		gotLine, got := c.appendLine(nil, body, seq, &prev)
		if got != want || !bytes.Equal(gotLine, wantLine) || chainHash(&prev, seq, body[:len(body)-1], []byte("}")) != want {
			t.Fatalf("seq %d: reused hasher gives %x, fresh %x", seq, got, want)
		}
		p, err := parseLine(gotLine[:len(gotLine)-1])
		if err != nil || !p.check() {
			t.Fatalf("seq %d: line does not verify: %v", seq, err)
		}
		prev = got
	}
}
