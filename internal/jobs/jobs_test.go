package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunnerRunsTasksUntilCancelled(t *testing.T) {
	var runs, fails atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		Interval: time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tasks: []Task{
			{Name: "count", Run: func(context.Context) (int, error) {
				if runs.Add(1) == 3 {
					cancel()
				}
				return 1, nil
			}},
			{Name: "fail", Run: func(context.Context) (int, error) { fails.Add(1); return 0, errors.New("boom") }},
		},
	}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	if runs.Load() < 3 || fails.Load() < 2 {
		t.Fatalf("runs=%d fails=%d: a failing task must not stop the others", runs.Load(), fails.Load())
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func explodeOnce(runs *atomic.Int32) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		var due []int
		n := runs.Add(1)
		if n == 1 {
			return due[n], nil // an index out of range: a real bug, not a staged panic value
		}
		return 1, nil
	}
}

func TestRunnerSurvivesPanickingTask(t *testing.T) {
	var logs lockedBuffer
	var explode, after atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Runner{
		Interval: time.Millisecond,
		Logger:   slog.New(slog.NewJSONHandler(&logs, nil)),
		Tasks: []Task{
			{Name: "explode-once", Run: explodeOnce(&explode)},
			{Name: "after", Run: func(context.Context) (int, error) {
				if after.Add(1) == 3 {
					cancel()
				}
				return 0, nil
			}},
		},
	}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not go on after a task panicked")
	}
	if explode.Load() < 2 || after.Load() < 3 {
		t.Fatalf("explode ran %d times, after %d: the panicking task must run again and the others go on", explode.Load(), after.Load())
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err == nil && m["msg"] == "background task panicked" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no panic logged; logs:\n%s", logs.String())
	}
	if line["task"] != "explode-once" || line["level"] != "ERROR" {
		t.Errorf("panic logged as %v", line)
	}
	if p, _ := line["panic"].(string); !strings.Contains(p, "index out of range") {
		t.Errorf("panic value %q", p)
	}
	if st, _ := line["stack"].(string); !strings.Contains(st, "explodeOnce") {
		t.Errorf("stack does not show the panicking function:\n%s", st)
	}
}

// A task signalling Due runs again long before the interval, alone; the
// other tasks wait for the interval.
func TestDueRunsATaskEarly(t *testing.T) {
	var early, other atomic.Int32
	due := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &Runner{
		Interval: time.Hour,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tasks: []Task{
			{Name: "early", Run: func(context.Context) (int, error) { early.Add(1); return 1, nil }, Due: due},
			{Name: "other", Run: func(context.Context) (int, error) { other.Add(1); return 1, nil }},
		},
	}
	go r.Run(ctx)
	for i := int32(1); i <= 3; i++ {
		due <- struct{}{}
		deadline := time.Now().Add(10 * time.Second)
		for early.Load() < 1+i {
			if time.Now().After(deadline) {
				t.Fatalf("after %d signals the task ran %d times, want %d", i, early.Load(), 1+i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := other.Load(); n != 1 {
		t.Errorf("the other task ran %d times, want once (at start)", n)
	}
}
