// Package jobs runs kmsd's background work — scheduled key deletion today,
// rotation and imported-material expiry later — on a fixed interval.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Task is one kind of background work. Run does whatever is due and reports
// how many items it handled; it must be idempotent, since a crash can
// interrupt it anywhere and the next run starts over.
type Task struct {
	Name string
	Run  func(ctx context.Context) (int, error)
	// Due, when set, asks for a run of this task alone before the next
	// interval: work that piles up in memory signals when it has grown
	// enough to write.
	Due <-chan struct{}
}

// Runner runs its tasks once at start and then every Interval until ctx ends.
type Runner struct {
	Interval time.Duration
	Tasks    []Task
	Logger   *slog.Logger
}

// RunOnce runs every task one time. A task that panics is logged and
// counts as failed; the others still run, and it runs again next time.
func (r *Runner) RunOnce(ctx context.Context) {
	for _, t := range r.Tasks {
		n, err := r.run(ctx, t)
		switch {
		case err != nil && ctx.Err() == nil:
			r.Logger.Error("background task failed", "task", t.Name, "error", err)
		case n > 0:
			r.Logger.Info("background task done", "task", t.Name, "items", n)
		}
	}
}

// run runs one task, turning a panic into a log line with the stack: a bug
// in one job must not take the server, or the other jobs, down with it.
func (r *Runner) run(ctx context.Context, t Task) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.Logger.Error("background task panicked", "task", t.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			n, err = 0, nil
		}
	}()
	return t.Run(ctx)
}

// Run blocks until ctx is done. Tasks run one at a time: a task asking
// for an early run waits for the one running.
func (r *Runner) Run(ctx context.Context) {
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	due := make(chan int)
	for i, t := range r.Tasks {
		if t.Due != nil {
			go forward(ctx, t.Due, i, due)
		}
	}
	r.RunOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.RunOnce(ctx)
		case i := <-due:
			t := r.Tasks[i]
			if _, err := r.run(ctx, t); err != nil && ctx.Err() == nil {
				r.Logger.Error("background task failed", "task", t.Name, "error", err)
			}
		}
	}
}

// forward passes each signal of from to the runner as task i's index.
func forward(ctx context.Context, from <-chan struct{}, i int, to chan<- int) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-from:
		}
		select {
		case <-ctx.Done():
			return
		case to <- i:
		}
	}
}
