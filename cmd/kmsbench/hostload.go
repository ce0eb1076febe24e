package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadAvg reads the host's 1-minute load average from /proc/loadavg: how
// busy the machine was while a sample ran (above the CPU count, samples
// wait for a core, and ratios drift).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// primitiveCPU runs f under testing.Benchmark and returns the CPU time (not
// wall time, which a busy host inflates) and the allocations per call, of
// the benchmark's final, longest run.
func primitiveCPU(f func()) (cpu time.Duration, allocs int64) {
	var perOp time.Duration
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		c0 := selfCPU()
		for i := 0; i < b.N; i++ {
			f()
		}
		perOp = (selfCPU() - c0) / time.Duration(b.N)
	})
	return perOp, r.AllocsPerOp()
}

// rssOf returns a process's resident set and, of it, the pages mapped from
// files whose name ends in suffix (the store's memory map).
func rssOf(pid int, suffix string) (rss, mapped int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, 0, err
	}
	inFile := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") || strings.Contains(f[0], "-") {
			// A mapping's header: address range, perms, offset, dev, inode, path.
			inFile = len(f) >= 6 && strings.HasSuffix(f[len(f)-1], suffix)
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss += kb << 10
			if inFile {
				mapped += kb << 10
			}
		}
	}
	return rss, mapped, nil
}
