package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The uses the rounds leave in runs or in memory are charged to the whole
// run at the merge's cost a use.
func TestUsesLeftCharge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "kmsd_key_last_usage_unmerged 300000\nkmsd_key_last_usage_pending 100000")
	}))
	defer srv.Close()
	u := usesLeft{MergeCPUPerUse: 5 * time.Microsecond}
	if err := u.charge(srv.URL, 150*time.Microsecond, 500_000); err != nil {
		t.Fatal(err)
	}
	// 400,000 uses at 5 µs over 500,000 requests: 4 µs a request more.
	if u.Unmerged != 400_000 || u.WholeWithMerge != 154*time.Microsecond {
		t.Fatalf("charged %+v", u)
	}
	if s := u.String(100 * time.Microsecond); !strings.HasPrefix(s, "1.54× (154µs) with the 400000 key uses") {
		t.Fatalf("String = %q", s)
	}
}
