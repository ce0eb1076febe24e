package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
