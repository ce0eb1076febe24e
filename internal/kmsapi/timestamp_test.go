package kmsapi

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimestampMarshal(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1700000000, 0), "1700000000"},
		{time.Unix(1700000000, 123_000_000), "1700000000.123"},
		{time.Unix(1700000000, 500_000_000), "1700000000.5"},
		{time.Unix(1700000000, 120_400_000), "1700000000.12"},
		{time.Unix(1700000000, 999_600_000), "1700000001"},
		{time.Unix(0, 0), "0"},
		{time.Unix(-1, 500_000_000), "-0.5"},
		{time.Unix(-2, 0), "-2"},
	} {
		b, err := json.Marshal(Timestamp(tc.t))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.t, b, err, tc.want)
		}
	}
}

func TestTimestampUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.123", time.Unix(1700000000, 123_000_000)},
		{"1.5565824E9", time.Unix(1556582400, 0)},
		{"1.5565824e+9", time.Unix(1556582400, 0)},
		{"15565824000e-1", time.Unix(1556582400, 0)},
		{"1.7000000001234567895E9", time.Unix(1700000000, 123456790)},
		{"0", time.Unix(0, 0)},
		{"-0.5", time.Unix(-1, 500_000_000)},
		{"0.000000001", time.Unix(0, 1)},
		{"1e-400", time.Unix(0, 0)},
	} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(tc.in), &ts); err != nil || !time.Time(ts).Equal(tc.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, time.Time(ts), err, tc.want)
		}
	}
	for _, bad := range []string{`"1700000000"`, `true`, `01`, `1.`, `.5`, `1e`, `1e+`, `1e1000000`, `1e40`, `--1`, `1x`, `{}`} {
		var ts Timestamp
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("Unmarshal(%s) succeeded: %v", bad, time.Time(ts))
		}
	}
	var p struct{ T *Timestamp }
	if err := json.Unmarshal([]byte(`{"T":null}`), &p); err != nil || p.T != nil {
		t.Errorf("null: %v, %v", p.T, err)
	}
}

// FuzzTimestamp checks that any accepted number survives a round trip at
// millisecond precision and that parsing never panics.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"1700000000", "1700000000.123", "1.5565824E9", "-0.5", "0", "1e-9", "999999999999.9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var ts Timestamp
		if ts.UnmarshalJSON([]byte(s)) != nil {
			return
		}
		if sec := time.Time(ts).Unix(); sec > 999_999_999_998 || sec < -999_999_999_998 {
			return // rounding may carry past the accepted range
		}
		b, err := json.Marshal(ts)
		if err != nil {
			t.Fatal(err)
		}
		var back Timestamp
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s → %s: %v", s, b, err)
		}
		want := time.Time(ts).Round(time.Millisecond)
		if !time.Time(back).Equal(want) {
			t.Fatalf("%s → %s → %v, want %v", s, b, time.Time(back), want)
		}
	})
}
