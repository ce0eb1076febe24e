package main

import (
	"strings"
	"testing"
	"time"
)

// The tail's CPU is charged to the rounds' requests.
func TestWholeRunWithTail(t *testing.T) {
	from := wholeRun{procStat: procStat{cpu: time.Second}, requests: 1000}
	to := wholeRun{procStat: procStat{cpu: 3 * time.Second}, requests: 21000}
	tl := tail{CPU: time.Second, Wait: 30 * time.Second}
	if got := to.withTail(from, tl); got != 150*time.Microsecond {
		t.Fatalf("withTail = %s, want 150µs: 3 s over 20,000 requests", got)
	}
	if got := from.withTail(from, tl); got != 0 {
		t.Fatalf("withTail with no request = %s", got)
	}
	line := tailLine(150*time.Microsecond, 100*time.Microsecond, tl, tail{CPU: 20 * time.Millisecond, Wait: time.Second})
	if !strings.HasPrefix(line, "1.50× (150µs against 100µs)") || !strings.Contains(line, "1s of CPU in 30s") {
		t.Fatalf("tailLine = %q", line)
	}
}
