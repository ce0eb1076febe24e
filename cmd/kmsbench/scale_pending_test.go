package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pendingServer serves kmsd_key_last_usage_pending, counting down from
// start by one a scrape, then kmsd_key_last_usage_unmerged, 1 for two
// scrapes more, and kmsd_key_last_usage_flushing, 1 for three scrapes
// more (a merge after the flush).
func pendingServer(t *testing.T, start int64) (*httptest.Server, *atomic.Int64) {
	n := new(atomic.Int64)
	n.Store(start)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		left := n.Add(-1) + 1
		flushing := 0
		if left > -3 {
			flushing = 1
		}
		unmerged := 0
		if left > -2 {
			unmerged = 1
		}
		fmt.Fprintf(w, "# TYPE kmsd_key_last_usage_pending gauge\nkmsd_key_last_usage_pending %d\nkmsd_key_last_usage_unmerged %d\nkmsd_key_last_usage_flushing %d\nkmsd_keys{state=\"Enabled\"} 5\ngo_memstats_heap_inuse_bytes 1.5e+06\n", max(left, 0), unmerged, flushing)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestWaitUsesWritten(t *testing.T) {
	srv, n := pendingServer(t, 3)
	if err := waitUsesWritten(srv.URL, time.Minute, time.Millisecond); err != nil {
		t.Fatalf("the uses were written, but: %v", err)
	}
	// 3 scrapes to write the uses, 3 more for the merge, and the last.
	if left := n.Load(); left != -4 {
		t.Fatalf("returned with the counter at %d, want -4: after the merge, at once", left)
	}
	never, _ := pendingServer(t, 1<<40)
	err := waitUsesWritten(never.URL, 20*time.Millisecond, time.Millisecond)
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
	srv, _ := pendingServer(t, 7)
	m, err := metricsOf(srv.URL, "go_memstats_heap_inuse_bytes", "kmsd_keys", "absent")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m["go_memstats_heap_inuse_bytes"] != 1.5e6 {
		t.Fatalf("got %v: want only the unlabelled series asked for", m)
	}
}

// TestFlushWaitFollowsTheJobsInterval: the wait for key uses follows the
// jobs interval kmsd itself takes, from a flag, the environment or a
// --config file, as a real kmsd reports it.
func TestFlushWaitFollowsTheJobsInterval(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "kmsd")
	if out, err := exec.Command("go", "build", "-o", bin, "../kmsd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	config := filepath.Join(dir, "kmsd.yaml")
	if err := os.WriteFile(config, []byte("jobs_interval: 30s\ncache_size: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KMSD_JOBS_INTERVAL", "")
	t.Setenv("KMSD_CONFIG", "")
	for _, c := range []struct {
		extra []string
		want  time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"--cache-size", "5"}, 5 * time.Minute},
		{[]string{"--jobs-interval", "10m"}, 23 * time.Minute},
		{[]string{"-jobs-interval=30s", "--memory-limit", "300"}, 4 * time.Minute},
		{[]string{"--config", config}, 4 * time.Minute},
	} {
		if got, err := flushWait(bin, c.extra); err != nil || got != c.want {
			t.Errorf("flushWait(%q) = %s, %v; want %s", c.extra, got, err, c.want)
		}
	}
	if got, err := flushWait(bin, []string{"--jobs-interval", "soon"}); err == nil || !strings.Contains(err.Error(), "soon") {
		t.Errorf("flushWait with --jobs-interval soon = %s, %v; want kmsd's refusal, naming the value", got, err)
	}
	// A flag left without its value does not take --print-config as one
	// (kmsd would then serve, and the wait never end).
	if got, err := flushWait(bin, []string{"--jobs-interval", "40s", "--log-level"}); err == nil {
		t.Errorf("flushWait with a flag missing its value = %s, want an error", got)
	}
	t.Setenv("KMSD_JOBS_INTERVAL", "5m")
	if got, err := flushWait(bin, nil); err != nil || got != 13*time.Minute {
		t.Errorf("with KMSD_JOBS_INTERVAL=5m: %s, %v", got, err)
	}
}

func TestJobsIntervalReadsPrintConfig(t *testing.T) {
	if d, err := jobsInterval([]byte("listen: 127.0.0.1:8080\njobs_interval: 1m30s\nadmin_listen: \"\"\n")); err != nil || d != 90*time.Second {
		t.Errorf("got %s, %v; want 1m30s", d, err)
	}
	for _, bad := range []string{"listen: x\n", "jobs_interval: often\n", "jobs_interval: 0s\n"} {
		if d, err := jobsInterval([]byte(bad)); err == nil {
			t.Errorf("%q read as %s, want an error", bad, d)
		}
	}
}
