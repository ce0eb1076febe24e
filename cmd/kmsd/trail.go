package main

import (
	"log/slog"

	"github.com/kmsd/kmsd/internal/api"
	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/cloudtrail"
)

// trailHandler serves CloudTrail's LookupEvents over the node's audit
// index, authenticating as the other APIs do for the service cloudtrail,
// and deciding by identity policies (without --enforce every caller is
// the account root, which they allow).
func trailHandler(cfg Config, n *node, log *slog.Logger) (*cloudtrail.Handler, error) {
	regions := cfg.regionsAccepted()
	var auth api.Authenticator = api.Permissive{AccountID: cfg.AccountID, DefaultRegion: cfg.Region, Regions: regions}
	if cfg.Enforce {
		ids := api.Identities{Store: n.ids}
		auth = api.Strict{
			Verifier:   &sigv4.Verifier{Credentials: ids, MaxSkew: cfg.MaxSkew, Services: []string{cloudtrail.SigningName}, Regions: regions},
			Principals: ids,
		}
	}
	if len(cfg.Regions) > 0 {
		auth = regionGate{Authenticator: auth, svc: n.svc}
	}
	tcfg := cloudtrail.Config{Auth: auth, Audit: n.audit, Identities: n.policies, Logger: log, BestEffortAudit: !cfg.AuditFailClosed}
	if n.index != nil {
		tcfg.Events = n.index
	} else if m, ok := n.audit.(*memAudit); ok {
		tcfg.Events = auditindex.Records(m.Records) // an ephemeral node's, read whole
	}
	return cloudtrail.New(tcfg)
}
