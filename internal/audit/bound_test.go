package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// encodedSize is the size of v as the audit log writes it (encoding/json,
// which the audit encoder matches byte for byte).
func encodedSize(t *testing.T, v map[string]any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

func TestBoundViewKeepsSmallViews(t *testing.T) {
	v := map[string]any{
		"keyId":             "alias/app",
		"encryptionContext": map[string]any{"tenant": "t-42", "purpose": "test"},
		"grantTokens":       []any{"a", "b"},
		"dryRun":            false,
		"numberOfBytes":     int32(32),
	}
	if got := BoundView(v); fmt.Sprintf("%p", got) != fmt.Sprintf("%p", v) {
		t.Fatal("a small view was copied")
	}
	if n := testing.AllocsPerRun(100, func() { BoundView(v) }); n != 0 {
		t.Errorf("boundView of a small view allocates %v times", n)
	}
	if BoundView(nil) != nil {
		t.Error("BoundView(nil) is not nil")
	}
}

func TestBoundViewLegalExtremesStayWhole(t *testing.T) {
	// The largest legal CreateKey: a 32 KB policy full of quotes, an
	// 8192-character description of 4-byte characters and 50 tags of
	// maximal 4-byte keys and values.
	tags := make([]any, 50)
	for i := range tags {
		tags[i] = map[string]any{"tagKey": strings.Repeat("𝄞", 128), "tagValue": strings.Repeat("𝄞", 256)}
	}
	v := map[string]any{
		"policy":      strings.Repeat(`{"a":"b"}`, 32768/9),
		"description": strings.Repeat("𝄞", 8192),
		"tags":        tags,
		"keySpec":     "SYMMETRIC_DEFAULT",
	}
	if got := BoundView(v); got["omitted"] != nil {
		t.Fatalf("a legal request was cut: %d bytes encoded", encodedSize(t, v))
	}
}

func TestBoundViewCutsHugeValues(t *testing.T) {
	huge := strings.Repeat("x", 900<<10)
	ec := make(map[string]any, 5000)
	for i := range 5000 {
		ec[fmt.Sprintf("k%05d", i)] = "v"
	}
	v := map[string]any{
		"keyId":               huge,
		"encryptionContext":   ec,
		"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}
	got := BoundView(v)
	if got["omitted"] != true {
		t.Error("a cut view is not marked omitted")
	}
	if got["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
		t.Errorf("a small member was lost: %v", got["encryptionAlgorithm"])
	}
	sum := sha256.Sum256([]byte(huge))
	keyID, _ := got["keyId"].(string)
	if !strings.HasPrefix(keyID, "xxxx") || !strings.Contains(keyID, fmt.Sprintf("%d bytes, sha256 %s", len(huge), hex.EncodeToString(sum[:]))) || len(keyID) > 512 {
		t.Errorf("keyId cut to %d bytes: %.120q", len(keyID), keyID)
	}
	m, _ := got["encryptionContext"].(map[string]any)
	if len(m) != maxViewEntries+1 || m["k00000"] != "v" || m[truncatedKey] != fmt.Sprintf("%d more entries", 5000-maxViewEntries) {
		t.Errorf("encryption context cut to %d entries, note %v", len(m), m[truncatedKey])
	}
	if n := encodedSize(t, got); n > ViewBudget {
		t.Errorf("bounded view encodes to %d bytes", n)
	}
}

// TestBoundViewWorstCase checks the bound against values built to expand
// the most when encoded: every byte escaped, many members, nesting.
func TestBoundViewWorstCase(t *testing.T) {
	escapes := strings.Repeat("\x01\"<", 20<<10)
	list := make([]any, 3000)
	for i := range list {
		list[i] = map[string]any{escapes[:i%64+1]: escapes, "n": 1.5}
	}
	v := map[string]any{"a": escapes, "b": list, escapes: escapes, "c": map[string]any{"d": list}}
	got := BoundView(v)
	if n := encodedSize(t, got); n > ViewBudget+1024 {
		t.Errorf("bounded view encodes to %d bytes, over %d", n, ViewBudget)
	}
	// Cut strings still end on a character boundary.
	cut := BoundView(map[string]any{"s": strings.Repeat("é", 100<<10)})["s"].(string)
	if !strings.HasPrefix(cut, strings.Repeat("é", keptPrefix/2)+"...[truncated") {
		t.Errorf("cut string starts %.40q", cut)
	}
}

// BenchmarkBoundView measures what bounding adds to the hot path: an
// Encrypt's view, which fits and is returned as it is.
func BenchmarkBoundView(b *testing.B) {
	params := map[string]any{
		"keyId":               "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"encryptionContext":   map[string]any{"purpose": "test", "tenant": "acme-corp"},
		"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
	}
	b.ReportAllocs()
	for b.Loop() {
		BoundView(params)
	}
}
