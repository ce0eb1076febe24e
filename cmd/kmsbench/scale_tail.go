package main

import (
	"fmt"
	"time"
)

// A kmsd writes the key uses it records in the background: a flush of
// many writes them as runs, and a merge writes the runs in place, once
// they are large, or when a flush finds nothing new. The rounds' uses are
// mostly written after the rounds, so the bench waits for that after the
// rounds too, reads each server's CPU meanwhile, and charges it to the
// whole run.

// tail is a server's CPU from the end of the rounds until it has written
// every key use they left.
type tail struct {
	CPU  time.Duration `json:"cpu_ns"`
	Wait time.Duration `json:"wait_ns"`
}

// tailOf waits, up to limit, until the kmsd with process pid and metrics
// at url has written every key use (waitUsesWritten), and returns its
// CPU meanwhile.
func tailOf(pid int, url string, limit time.Duration) (tail, error) {
	before, err := procStatOf(pid)
	if err != nil {
		return tail{}, err
	}
	t0 := time.Now()
	if err := waitUsesWritten(url, limit, time.Second); err != nil {
		return tail{}, err
	}
	after, err := procStatOf(pid)
	return tail{CPU: after.cpu - before.cpu, Wait: time.Since(t0)}, err
}

// withTail is the CPU per request over the rounds (w, since from) with the
// tail's CPU added.
func (w wholeRun) withTail(from wholeRun, t tail) time.Duration {
	n := w.requests - from.requests
	if n <= 0 {
		return 0
	}
	return time.Duration(float64(w.cpu-from.cpu+t.CPU) / n)
}

func tailLine(many, one time.Duration, tm, to tail) string {
	return fmt.Sprintf("%.2f× (%s against %s) with what each server spent afterwards writing the key uses the rounds left (%s of CPU in %s, and %s in %s)",
		float64(many)/float64(one), many.Round(100*time.Nanosecond), one.Round(100*time.Nanosecond),
		tm.CPU.Round(10*time.Millisecond), tm.Wait.Round(time.Second), to.CPU.Round(10*time.Millisecond), to.Wait.Round(time.Second))
}
