package keyuse

import "testing"

// Malformed runs and chunks are errors, not uses.
func TestMalformedRuns(t *testing.T) {
	for _, v := range [][]byte{nil, {0x80}, {1, 9, 'a'}} {
		if _, err := parseRunInfo(make([]byte, 16), v); err == nil {
			t.Errorf("run %x parsed", v)
		}
	}
	if _, err := parseRunInfo([]byte("short"), []byte{1, 0}); err == nil {
		t.Error("a run with a short id parsed")
	}
	use := (&lastUse{at: 1, operation: "Encrypt", texts: &[2]string{"a", "b"}}).appendStored(nil)
	good := appendChunkUse(nil, []byte("k"), use)
	if uses, err := parseChunk(good); err != nil || len(uses) != 1 || string(uses[0].key) != "k" || uses[0].at != 1 {
		t.Fatalf("parseChunk = %+v, %v", uses, err)
	}
	for i := range len(good) - 1 {
		if _, err := parseChunk(good[:i+1]); err == nil {
			t.Errorf("a chunk cut at %d parsed", i+1)
		}
	}
	for _, bad := range [][]byte{nil, appendChunkUse(nil, nil, use), appendChunkUse(nil, []byte("k"), []byte("not a use"))} {
		if _, err := parseChunk(bad); err == nil {
			t.Errorf("chunk %x parsed", bad)
		}
	}
}
