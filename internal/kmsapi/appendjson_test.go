package kmsapi

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

type jsonAppender interface{ AppendJSON([]byte) []byte }

// TestAppendJSONMatchesMarshal holds every output's AppendJSON to the bytes
// encoding/json.Marshal writes, on random values with the edge cases of
// strings, numbers, timestamps, nil and empty lists and maps.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	f := &filler{r: rand.New(rand.NewPCG(1, 2))}
	for _, op := range Operations {
		typ := reflect.TypeOf(NewOutput(op)).Elem()
		for i := range iterations {
			v := reflect.New(typ)
			if i > 0 { // the first round checks the empty output
				f.fill(v.Elem(), 0)
			}
			if !checkAppendJSON(t, op, v.Interface().(jsonAppender)) {
				break
			}
		}
	}
}

// TestAppendJSONReachable checks that every structure an output holds has
// AppendJSON, and that a nil one is null, as in encoding/json.
func TestAppendJSONReachable(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(typ.Elem())
		case reflect.Struct:
			if seen[typ] || typ == reflect.TypeFor[Timestamp]() {
				return
			}
			seen[typ] = true
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		}
	}
	for _, op := range Operations {
		walk(reflect.TypeOf(NewOutput(op)).Elem())
	}
	for typ := range seen {
		a, ok := reflect.Zero(reflect.PointerTo(typ)).Interface().(jsonAppender)
		if !ok {
			t.Errorf("%s has no AppendJSON", typ)
			continue
		}
		checkAppendJSON(t, typ.Name()+"(nil)", a)
	}
	if len(seen) < 60 {
		t.Errorf("found only %d structures", len(seen))
	}
}

// checkAppendJSON compares AppendJSON with json.Marshal, also after a prefix.
func checkAppendJSON(t *testing.T, name string, v jsonAppender) bool {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", name, err)
	}
	if got := v.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("%s: AppendJSON\n got  %s\n want %s", name, got, want)
		return false
	}
	prefix := []byte("[1,")
	if got := v.AppendJSON(prefix[:len(prefix):len(prefix)]); !bytes.Equal(got, append(prefix, want...)) {
		t.Errorf("%s: AppendJSON after a prefix: %s", name, got)
		return false
	}
	return true
}

// filler sets values at random, favoring the cases encoders get wrong.
type filler struct{ r *rand.Rand }

var oddStrings = []string{
	"", "a", `"`, `\`, `\"`, "<", ">", "&", "</script>", "\u2028", "\u2029", "\x00", "\x01", "\x1f",
	"\b", "\f", "\n", "\r", "\t", "\x7f", " ", "é", "日本", "😀", "\ufffd", "\ufeff",
	"\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "alias/ExampleAlias",
	"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}

func (f *filler) str() string {
	if f.r.IntN(5) == 0 {
		return ""
	}
	var b []byte
	for range 1 + f.r.IntN(4) {
		switch f.r.IntN(4) {
		case 0:
			b = append(b, byte(f.r.IntN(256)))
		case 1:
			b = append(b, string(rune(f.r.IntN(0x110000)))...)
		default:
			b = append(b, oddStrings[f.r.IntN(len(oddStrings))]...)
		}
	}
	return string(b)
}

func (f *filler) int(bits int) int64 {
	edges := []int64{0, 1, -1, 7, 10, 100, 1000, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	var n int64
	if f.r.IntN(2) == 0 {
		n = edges[f.r.IntN(len(edges))]
	} else {
		n = int64(f.r.Uint64()) >> f.r.IntN(64)
	}
	if bits == 32 {
		return int64(int32(n))
	}
	return n
}

func (f *filler) timestamp() Timestamp {
	nanos := []int64{0, 1, 499_999, 500_000, 999_999_999, 123_000_000, 100_000_000, 7_000_000, 50_000_000, 999_500_000}
	var nsec int64
	if f.r.IntN(2) == 0 {
		nsec = nanos[f.r.IntN(len(nanos))]
	} else {
		nsec = f.r.Int64N(1e9)
	}
	switch f.r.IntN(6) {
	case 0:
		return Timestamp{}
	case 1:
		return Timestamp(time.Unix(0, nsec))
	case 2:
		return Timestamp(time.Unix(-f.r.Int64N(1e11), nsec))
	}
	return Timestamp(time.Unix(f.r.Int64N(1e11), nsec).In(time.FixedZone("x", 3600)))
}

// fill sets v, which holds its zero value, at random.
func (f *filler) fill(v reflect.Value, depth int) {
	if v.Type() == reflect.TypeFor[Timestamp]() {
		v.Set(reflect.ValueOf(f.timestamp()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(f.str())
	case reflect.Bool:
		v.SetBool(f.r.IntN(2) == 0)
	case reflect.Int32:
		v.SetInt(f.int(32))
	case reflect.Int64:
		v.SetInt(f.int(64))
	case reflect.Pointer:
		if f.r.IntN(4) > 0 && depth < 8 {
			p := reflect.New(v.Type().Elem())
			f.fill(p.Elem(), depth+1)
			v.Set(p)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			switch f.r.IntN(4) {
			case 0: // nil
			case 1:
				v.SetBytes([]byte{})
			default:
				b := make([]byte, f.r.IntN(70))
				for i := range b {
					b[i] = byte(f.r.IntN(256))
				}
				v.SetBytes(b)
			}
			return
		}
		switch f.r.IntN(5) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			n := 1 + f.r.IntN(4)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				f.fill(s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch f.r.IntN(5) {
		case 0: // nil
		case 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for range 1 + f.r.IntN(6) {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				f.fill(k, depth+1)
				f.fill(e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f.r.IntN(3) > 0 {
				f.fill(v.Field(i), depth+1)
			}
		}
	default:
		panic("filler: unexpected kind " + v.Kind().String())
	}
}

// FuzzAppendJSON compares the encoders on fuzzed strings, blobs and times,
// in the members most responses carry.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s, "k", []byte(s), int64(1700000000), int64(500_000))
	}
	f.Fuzz(func(t *testing.T, s, k string, blob []byte, sec, nsec int64) {
		ts := Time(time.Unix(sec%1e11, nsec))
		vs := []jsonAppender{
			&EncryptOutput{CiphertextBlob: blob, KeyId: s, EncryptionAlgorithm: EncryptionAlgorithmSpec(k)},
			&ListGrantsOutput{NextMarker: k, Grants: []GrantListEntry{{
				Name: s, CreationDate: ts, Operations: []GrantOperation{GrantOperation(s), GrantOperation(k)},
				Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{s: k, k: s, s + k: ""}},
			}}},
			&DescribeKeyOutput{KeyMetadata: &KeyMetadata{Description: s, DeletionDate: ts}},
		}
		for _, v := range vs {
			checkAppendJSON(t, reflect.TypeOf(v).Elem().Name(), v)
		}
	})
}
