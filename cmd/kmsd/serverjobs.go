package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/outbox"
)

// recoverOutbox ships, before the first request, the audit records of
// changes that committed while the log did not take their final record
// (a crash between the two, or a failing log): the record of every
// committed change reaches the log exactly once.
func recoverOutbox(ctx context.Context, n *node, cfg Config, log *slog.Logger) error {
	if cfg.ephemeral() {
		return nil // a fresh store in memory: no earlier run left anything
	}
	if n.shared != nil {
		return recoverSharedOutbox(ctx, n, cfg, log)
	}
	_, _, auditPath := dataPaths(cfg.DataDir)
	shipped, err := n.outbox.Recover(ctx, func(ids map[string]bool, since time.Time) error {
		return outbox.FindInLog(auditPath, ids, since)
	})
	if err != nil {
		if cfg.AuditFailClosed {
			return fmt.Errorf("audit records of committed changes could not be written to the log: %w", err)
		}
		log.Error("audit records of committed changes could not be written to the log yet; retrying", "error", err)
	}
	if shipped > 0 {
		log.Warn("recovered the audit records of changes committed before the last stop", "records", shipped)
	}
	return nil
}

// outboxInterval is how often stranded audit records are retried and
// delivered ones deleted when no request does it.
const outboxInterval = 2 * time.Second

// shipOutbox retries the records the log refused until ctx ends, and
// deletes delivered outbox entries on an idle server.
func shipOutbox(ctx context.Context, box *outbox.Outbox, log *slog.Logger) {
	t := time.NewTicker(outboxInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := box.Ship(ctx); err != nil && ctx.Err() == nil {
			log.Error("audit outbox: records still waiting for the log", "error", err)
		}
	}
}

// flushLastUsage writes the key usage recorded since the jobs' last flush,
// once no request is in flight any more.
func flushLastUsage(svc *kms.Service, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := svc.FlushLastUsage(ctx); err != nil {
		log.Error("flush key last usage", "error", err)
	}
}
