package main

import "testing"

// TestMemoryLimitFollowsTheCache: the Go heap's soft limit is 128 MiB
// and 8 KiB for each key the cache may hold unless --memory-limit or
// GOMEMLIMIT sets it, as the runtime reports on /metrics.
func TestMemoryLimitFollowsTheCache(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		env, args []string
		want      float64
	}{
		{nil, nil, 128*mib + 20000*8192},
		{nil, []string{"--cache-size", "100000"}, 128*mib + 100000*8192},
		{[]string{"KMSD_CACHE_SIZE=1000"}, nil, 128*mib + 1000*8192},
		{nil, []string{"--memory-limit", "1024"}, 1024 * mib},
		{[]string{"GOMEMLIMIT=500MiB"}, nil, 500 * mib},
	} {
		admin := freeAddr(t)
		env := append([]string{"GOMEMLIMIT=", "KMSD_CACHE_SIZE=", "KMSD_MEMORY_LIMIT=", "KMSD_CONFIG="}, c.env...)
		p := startKMSDEnv(t, env, append([]string{"dev", "--data", t.TempDir(), "--admin-listen", admin}, c.args...)...)
		if got := scrapeMetrics(t, "http://"+admin+"/metrics")["go_gc_gomemlimit_bytes"]; got != c.want {
			t.Errorf("env %q, flags %q: memory limit %.0f bytes, want %.0f", c.env, c.args, got, c.want)
		}
		p.stop()
	}
}
