package main

import (
	"bytes"
	"go/format"
	"strings"
	"testing"
)

// TestGenJSONListKinds renders lists the KMS model has no output of today
// (of timestamps, blobs, numbers, and lists of lists), which the package's
// property test therefore cannot reach.
func TestGenJSONListKinds(t *testing.T) {
	sh := func(name, typ, elem string, members ...member) *shape {
		return &shape{name: name, typ: typ, elem: elem, members: members, required: map[string]bool{}, always: map[string]bool{}}
	}
	m := &model{
		shapes: map[string]*shape{
			"OpResponse": sh("OpResponse", "structure", "",
				member{"Times", "TimeList"}, member{"Nested", "NestedList"},
				member{"Blobs", "BlobList"}, member{"Counts", "CountList"}, member{"Flag", "Flag"}),
			"TimeList":   sh("TimeList", "list", "Stamp"),
			"NestedList": sh("NestedList", "list", "TimeList"),
			"BlobList":   sh("BlobList", "list", "Blob"),
			"CountList":  sh("CountList", "list", "Count"),
			"Stamp":      sh("Stamp", "timestamp", ""),
			"Blob":       sh("Blob", "blob", ""),
			"Count":      sh("Count", "long", ""),
			"Flag":       sh("Flag", "boolean", ""),
		},
		ops:    []operation{{name: "Op", output: "OpResponse"}},
		goName: map[string]string{"OpResponse": "OpOutput"},
	}
	var b bytes.Buffer
	b.WriteString("package kmsapi\n\n")
	if err := genJSON(m, &b); err != nil {
		t.Fatal(err)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, b.Bytes())
	}
	for _, want := range []string{
		"func (v *OpOutput) AppendJSON(b []byte) []byte {",
		"if v.Times != nil {",
		"b = appendJSONTime(b, v.Times[i0])",
		"if v.Nested[i0] == nil {",
		"b = appendJSONTime(b, v.Nested[i0][i1])",
		"b = appendJSONBytes(b, v.Blobs[i0])",
		"b = strconv.AppendInt(b, int64(v.Counts[i0]), 10)",
		"if v.Flag != nil {",
		"b = strconv.AppendBool(b, *v.Flag)",
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("missing %q in\n%s", want, src)
		}
	}
}
