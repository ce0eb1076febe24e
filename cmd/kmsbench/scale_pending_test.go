package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pendingServer serves kmsd_key_last_usage_pending, counting down from
// start by one a scrape.
func pendingServer(t *testing.T, start int64) *httptest.Server {
	var n atomic.Int64
	n.Store(start)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := max(n.Add(-1)+1, 0)
		fmt.Fprintf(w, "# TYPE kmsd_key_last_usage_pending gauge\nkmsd_key_last_usage_pending %d\nkmsd_keys{state=\"Enabled\"} 5\ngo_memstats_heap_inuse_bytes 1.5e+06\n", v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWaitUsesWritten(t *testing.T) {
	if err := waitUsesWritten(pendingServer(t, 3).URL, time.Minute, time.Millisecond); err != nil {
		t.Fatalf("the uses were written, but: %v", err)
	}
	err := waitUsesWritten(pendingServer(t, 1<<40).URL, 20*time.Millisecond, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still unwritten") {
		t.Fatalf("uses never written: %v", err)
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "up 1") }))
	defer bare.Close()
	if err := waitUsesWritten(bare.URL, time.Minute, time.Millisecond); err == nil {
		t.Fatal("a kmsd without the series passed")
	}
}

func TestMetricsOf(t *testing.T) {
	m, err := metricsOf(pendingServer(t, 7).URL, "go_memstats_heap_inuse_bytes", "kmsd_keys", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m["go_memstats_heap_inuse_bytes"] != 1.5e6 {
		t.Fatalf("got %v: want only the unlabelled series asked for", m)
	}
}

func TestFlushWaitFollowsTheJobsInterval(t *testing.T) {
	t.Setenv("KMSD_JOBS_INTERVAL", "")
	for _, c := range []struct {
		extra []string
		want  time.Duration
	}{
		{nil, 3 * time.Minute},
		{[]string{"--cache-size", "5"}, 3 * time.Minute},
		{[]string{"--jobs-interval", "10m"}, 21 * time.Minute},
		{[]string{"-jobs-interval=30s", "--memory-limit", "300"}, 2 * time.Minute},
		{[]string{"--jobs-interval", "soon"}, 3 * time.Minute},
	} {
		if got := flushWait(c.extra); got != c.want {
			t.Errorf("flushWait(%q) = %s, want %s", c.extra, got, c.want)
		}
	}
	t.Setenv("KMSD_JOBS_INTERVAL", "5m")
	if got := flushWait(nil); got != 11*time.Minute {
		t.Errorf("with KMSD_JOBS_INTERVAL=5m: %s", got)
	}
}
