package iamapi

import (
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/policy"
)

func TestReadStatements(t *testing.T) {
	for _, tc := range []struct {
		name, doc  string
		start, end []position
		keys       [][]string
	}{
		{"array", "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"kms:*\", \"Resource\": \"*\"},\n    {\"Effect\": \"Deny\",\n     \"Action\": \"kms:Decrypt\", \"Resource\": \"*\",\n     \"Condition\": {\"Bool\": {\"aws:SecureTransport\": \"false\"}, \"IpAddress\": {\"aws:SourceIp\": [\"192.0.2.0/24\"]}}}\n  ]\n}",
			[]position{{4, 5}, {5, 5}}, []position{{4, 60}, {7, 111}}, [][]string{nil, {"aws:SecureTransport", "aws:SourceIp"}}},
		{"one object", `{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"},"Version":"2012-10-17"}`,
			[]position{{1, 14}}, []position{{1, 64}}, [][]string{nil}},
		{"characters, not bytes", "{\"Id\":\"clé\",\"Statement\":[{\"Sid\":\"é\",\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}",
			[]position{{1, 26}}, []position{{1, 86}}, [][]string{nil}},
		{"statement after nested arrays", `{"Id":[[{"Statement":[]}]],"Statement":[{"Effect":"Allow","Action":["a:b"],"Resource":"*"}]}`,
			[]position{{1, 41}}, []position{{1, 91}}, [][]string{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readStatements(tc.doc)
			if len(got) != len(tc.start) {
				t.Fatalf("%d statements, want %d", len(got), len(tc.start))
			}
			for i, st := range got {
				slices.Sort(st.keys)
				if st.start != tc.start[i] || st.end != tc.end[i] || !slices.Equal(st.keys, tc.keys[i]) {
					t.Errorf("statement %d: %+v to %+v keys %q, want %+v to %+v keys %q", i, st.start, st.end, st.keys, tc.start[i], tc.end[i], tc.keys[i])
				}
			}
		})
	}
	for _, doc := range []string{"", "[]", `{"Statement":"x"}`, `{"Statement":[{"a":1}`} {
		if got := readStatements(doc); got != nil {
			t.Errorf("%q: %+v, want none", doc, got)
		}
	}
}

func TestStatementAppliesTo(t *testing.T) {
	st := readStatements(`{"Statement":[{"Effect":"Allow","Action":["kms:Gen*Key","kms:Re?ncrypt*"],"Resource":"*"},{"Effect":"Allow","NotAction":"kms:*","Resource":"*"}]}`)
	for _, tc := range []struct {
		i      int
		action string
		want   bool
	}{
		{0, "kms:GenerateDataKey", true}, {0, "KMS:generatedatakey", true}, {0, "kms:GenerateDataKeyPair", false},
		{0, "kms:ReEncryptFrom", true}, {0, "kms:ReEEncryptFrom", false}, {0, "kms:Encrypt", false},
		{1, "kms:Encrypt", false}, {1, "iam:CreateUser", true},
	} {
		if got := st[tc.i].appliesTo(tc.action); got != tc.want {
			t.Errorf("statement %d applies to %s: %v, want %v", tc.i, tc.action, got, tc.want)
		}
	}
}

// FuzzReadStatements checks that any text is read without a panic, and
// that a valid policy yields one statement per statement the policy engine
// reads, in order, each ending after it starts.
func FuzzReadStatements(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
		`{"Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":"true"}}}}`,
		"{\n\"Statement\" : [ {\"Effect\":\"Allow\",\n\"Action\":[\"kms:Encrypt\"],\"Resource\":\"*\"} , {\"Effect\":\"Allow\",\"NotAction\":\"kms:*\",\"Resource\":\"*\"} ]}",
		`{"Statement":[{"a":[1,{"b":"}"}]}]}`, `{`, `}`, `"`, "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got := readStatements(doc)
		for _, st := range got {
			if st.end.Line < st.start.Line || st.end.Line == st.start.Line && st.end.Column <= st.start.Column {
				t.Fatalf("statement ends at %+v before it starts at %+v", st.end, st.start)
			}
		}
		p, err := policy.ParseIdentityPolicy(doc)
		if err != nil {
			return
		}
		if len(got) != p.Len() {
			t.Fatalf("read %d statements of a valid policy with %d", len(got), p.Len())
		}
	})
}
