package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/jobs"
	"github.com/kmsd/kmsd/internal/metrics"
	"github.com/kmsd/kmsd/internal/secret"
)

// instance is an open node serving requests: its handler, and the
// background jobs and audit shipping that run beside it. A reset replaces
// the instance of a dev server with a fresh one.
type instance struct {
	n         *node
	handler   http.Handler
	auth      api.Authenticator // the KMS API's, for the dev endpoints
	bootstrap string            // a first access key to print, or ""
	requests  requestGate       // the API requests in flight, for rotate-root

	stopJobs           context.CancelFunc
	jobsDone, shipDone chan struct{}
}

// startInstance opens the node cfg names, prepares its identities and
// seed, ships audit records left by an earlier run, and starts its jobs.
// The seed's summary goes to stdout. mx, when not nil, measures it.
func startInstance(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer, mx *metrics.Metrics) (_ *instance, err error) {
	n, err := openNode(cfg, log, mx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := n.close(); cerr != nil {
				log.Error("close", "error", cerr)
			}
		}
	}()
	in := &instance{n: n}
	if err := n.ids.Init(ctx, cfg.AccountID); err != nil {
		return nil, fmt.Errorf("prepare identities: %w", err)
	}
	regions := cfg.regionsAccepted()
	var auth api.Authenticator = api.Permissive{AccountID: cfg.AccountID, DefaultRegion: cfg.Region, Regions: regions}
	queryAuth := auth
	if cfg.Enforce {
		if cfg.RootAccessKey != "" && cfg.RootSecretKey != "" {
			if err := n.ids.EnsureAccessKey(ctx, cfg.AccountID, "", cfg.RootAccessKey, secret.Bytes(cfg.RootSecretKey)); err != nil {
				return nil, err
			}
		} else if in.bootstrap, err = bootstrapAccessKey(ctx, n.ids, cfg.AccountID); err != nil {
			return nil, err
		}
		ids := api.Identities{Store: n.ids}
		auth = api.Strict{
			Verifier:   &sigv4.Verifier{Credentials: ids, MaxSkew: cfg.MaxSkew, Services: []string{"kms"}, Regions: regions},
			Principals: ids,
		}
		queryAuth = api.Strict{
			Verifier:   &sigv4.Verifier{Credentials: ids, MaxSkew: cfg.MaxSkew, Services: []string{"iam", "sts"}, Regions: regions},
			Principals: ids,
		}
	}
	if len(cfg.Regions) > 0 {
		auth = regionGate{Authenticator: auth, svc: n.svc}
	}
	in.auth = auth
	if cfg.Seed != "" {
		if err := applySeed(ctx, n, cfg, stdout); err != nil {
			return nil, err
		}
	}
	qcfg := iamapi.Config{Identities: n.ids, Auth: queryAuth, Audit: n.audit, Logger: log, Outbox: n.outbox, Keys: n.svc}
	if cfg.Enforce {
		qcfg.Authorizer = n.policies
	}
	query, err := iamapi.New(qcfg)
	if err != nil {
		return nil, err
	}
	if err := recoverOutbox(ctx, n, cfg, log); err != nil {
		return nil, err
	}
	var observer api.Observer
	if mx != nil {
		observer = mx
	}
	trail, err := trailHandler(cfg, n, log)
	if err != nil {
		return nil, err
	}
	xks, xksPrefix, err := xksHandler(cfg, n, log, observer)
	if err != nil {
		return nil, err
	}
	srv, err := api.New(api.Config{Service: n.svc, Auth: auth, Audit: n.audit, Logger: log, Query: query, CloudTrail: trail,
		Outbox: n.outbox, BestEffortAudit: !cfg.AuditFailClosed, Ready: n.ready, Observer: observer, XKSProxy: xks, XKSPrefix: xksPrefix})
	if err != nil {
		return nil, err
	}
	in.handler = in.requests.track(srv)
	auditLog, _ := n.audit.(metrics.AuditLog) // an ephemeral node's memory log has no stats
	mx.Attach(metrics.Node{Audit: auditLog, Keys: n.svc, Unaudited: srv.UnauditedResponses})
	in.startJobs(ctx, cfg, log)
	return in, nil
}

func (in *instance) startJobs(ctx context.Context, cfg Config, log *slog.Logger) {
	if in.n.shared != nil {
		in.startSharedJobs(ctx, cfg, log)
		return
	}
	n := in.n
	jobCtx, stop := context.WithCancel(ctx)
	in.stopJobs = stop
	in.shipDone, in.jobsDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(in.shipDone)
		shipOutbox(jobCtx, n.outbox, log)
	}()
	go func() {
		defer close(in.jobsDone)
		(&jobs.Runner{Interval: cfg.JobsInterval, Logger: log, Tasks: []jobs.Task{
			{Name: "scheduled-deletion", Run: n.svc.DeletionJob(n.outbox)},
			{Name: "key-rotation", Run: n.svc.RotationJob(n.outbox)},
			{Name: "imported-material-expiry", Run: n.svc.ImportExpiryJob(n.outbox)},
			{Name: "expired-sessions", Run: n.ids.PruneSessions},
			{Name: "key-last-usage", Run: n.svc.FlushLastUsage, Due: n.svc.LastUsageDue()},
			{Name: "key-use-runs", Run: n.svc.MergeKeyUseRuns, Due: n.svc.KeyUseMergeDue()},
		}}).Run(jobCtx)
	}()
}

// stop ends the jobs, writes what they and the requests left pending,
// and closes the node. No request may be in flight.
func (in *instance) stop(log *slog.Logger) {
	in.stopJobs()
	<-in.jobsDone
	<-in.shipDone
	flushLastUsage(in.n.svc, log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := in.n.outbox.Flush(ctx); err != nil {
		log.Error("audit outbox: delete delivered entries", "error", err)
	}
	if err := in.n.close(); err != nil {
		log.Error("close", "error", err)
	}
}
