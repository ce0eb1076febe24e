package jsonstr

import (
	"encoding/json"
	"testing"
)

func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := Append(nil, s); string(got) != string(want) {
		t.Fatalf("Append(%q) = %s, encoding/json writes %s", s, got, want)
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "arn:aws:kms:us-east-1:111122223333:key/x", `q"uo\te`, "<a&b>",
		"\x00\x01\x1f\b\f\n\r\t", "\u2028\u2029", "caf\u00e9 \U0001F600", "\xff\xfe bad", "eight..!<", "0123456789abcdef\n"} {
		check(t, s)
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "abc", "\u2028<>&", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(check)
}
