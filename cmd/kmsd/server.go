package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/auditindex"
	"github.com/kmsd/kmsd/internal/authz"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/metrics"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

type mode string

const (
	modeDev   mode = "dev"
	modeServe mode = "serve"
)

// loadConfig builds the config of a subcommand: defaults, then the YAML file
// named by --config, then KMSD_* variables, then flags.
func loadConfig(m mode, args []string, stderr io.Writer, getenv func(string) string) (Config, bool, error) {
	cfg := defaultConfig()
	if m == modeServe {
		// A server facing a network gets no well-known credentials.
		cfg.RootAccessKey, cfg.RootSecretKey = "", ""
		cfg.LogFormat = "json"
		cfg.Listen = "127.0.0.1:8443"
		cfg.Quotas = "aws"
	}
	if path := configPath(args, getenv); path != "" {
		if err := cfg.loadFile(path); err != nil {
			return cfg, false, err
		}
	}
	if err := cfg.loadEnv(getenv); err != nil {
		return cfg, false, err
	}
	fs := flag.NewFlagSet("kmsd "+string(m), flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bindFlags(fs)
	fs.String("config", "", "YAML config file (or set KMSD_CONFIG)")
	printConfig := fs.Bool("print-config", false, "print the effective configuration and exit")
	var ephemeral bool
	if m == modeDev {
		fs.BoolVar(&cfg.Enforce, "enforce", cfg.Enforce, "verify SigV4 signatures against the root credentials instead of accepting any")
		fs.BoolVar(&ephemeral, "ephemeral", false, "keep everything in memory and nothing on disk; it is all gone when kmsd stops (the same as --data "+memoryData+")")
	}
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if err := applyEphemeral(&cfg, m, ephemeral); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if m == modeServe {
		cfg.Enforce = true
		// No response leaves a server before its audit record is durable.
		cfg.AuditFailClosed = true
		if cfg.AuditAsync {
			return cfg, false, errors.New("audit_async is for kmsd dev only: serve answers only once a request's audit record is durable")
		}
	}
	warnSecretFlags(fs, stderr)
	warnConfig(cfg, stderr)
	return cfg, *printConfig, cfg.validateFor(m)
}

// flagValue finds -name V, --name V or --name=V before flags are parsed.
func flagValue(args []string, name string) string {
	for i, a := range args {
		for _, p := range []string{"-" + name, "--" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, p+"=") {
				return strings.TrimPrefix(a, p+"=")
			}
		}
	}
	return ""
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// node is an open data directory: the store, the seal and the audit log.
type node struct {
	store    *sealed.Store
	seal     *seal.FileSeal
	audit    nodeAudit
	ids      *identity.Store
	policies *authz.Policies
	svc      *kms.Service
	outbox   *outbox.Outbox
	shared   *shared           // its part in a cluster (cluster.go); nil on bbolt
	index    *auditindex.Index // the audit log's index for LookupEvents; nil in memory
}

// nodeAudit is where a node's audit records go: the log file in the data
// directory, or memory for an ephemeral server.
type nodeAudit interface {
	Append(ev *audit.Event) error
	Health() error
	Close() error
}

func dataPaths(dir string) (db, rootKey, auditLog string) {
	return filepath.Join(dir, "kmsd.db"), filepath.Join(dir, "root.key"), filepath.Join(dir, "audit", "kmsd-audit.jsonl")
}

// openNode opens the data directory; with a logger it also opens the audit
// log (for serving), without one it leaves it closed (admin commands). mx,
// when not nil, times the store transactions of the serving node.
func openNode(cfg Config, log *slog.Logger, mx *metrics.Metrics) (*node, error) {
	withAudit := log != nil
	dbPath, keyPath, auditPath := dataPaths(cfg.DataDir)
	var st *sealed.Store
	var sl *seal.FileSeal
	var sh *shared
	var err error
	if cfg.ephemeral() {
		st, sl, err = openMemoryStore(log)
	} else if err = os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		err = fmt.Errorf("create data directory: %w", err)
	} else if cfg.Store != "" {
		st, sl, sh, err = openShared(cfg, keyPath, log)
		auditPath = nodeAuditPath(cfg.DataDir)
	} else {
		st, sl, err = openStoreSealed(dbPath, keyPath, cfg.Seal, log)
	}
	if err != nil {
		return nil, err
	}
	// Without --enforce every caller is the account root, so the root may
	// assume roles there; AWS (and kmsd with --enforce) refuses it.
	// Policies are validated and trust policies evaluated in the full
	// policy language in every mode; key and identity policies decide
	// requests only when signatures are enforced, since without that every
	// caller is the root anyway.
	pol := &authz.Policies{}
	n := &node{store: st, seal: sl, policies: pol, shared: sh}
	svcStore := store.Store(st)
	if withAudit && cfg.ephemeral() {
		n.audit = newMemAudit(memAuditRecords)
	} else if withAudit {
		// Every request waits for its record's group commit, unless dev
		// runs with --audit-async; then nobody waits for the fsync, so
		// records gather into larger batches (one fsync per few
		// milliseconds) and a crash loses the last of them.
		opts := audit.Options{FailClosed: !cfg.AuditAsync, Logger: log}
		if cfg.AuditAsync {
			opts.FlushInterval = 5 * time.Millisecond
		}
		// Signed digests of the chain, anchored in the store: an auditor
		// holding the public key (written beside the log) can verify the
		// trail; removing its end is caught at the next start and by
		// kmsd audit verify --data.
		if opts.Signer, err = auditSigner(context.Background(), st, sl); err != nil {
			st.Close()
			return nil, fmt.Errorf("audit digest signing key: %w", err)
		}
		opts.Anchor = storeAnchor{st: st, node: sh.nodeName()}
		// LookupEvents reads an index that follows the log's durable batches.
		if n.index, err = auditindex.Open(auditPath, auditindex.Options{Logger: log}); err != nil {
			st.Close()
			return nil, fmt.Errorf("open audit index: %w", err)
		}
		opts.Durable = n.index.Durable
		if n.audit, err = audit.OpenFile(auditPath, opts); err != nil {
			n.index.Close()
			st.Close()
			return nil, fmt.Errorf("open audit log: %w", err)
		}
		n.index.Start()
	}
	if withAudit {
		n.outbox = outbox.New(mx.Store(st), n.audit, log)
		svcStore = n.outbox.Store()
	}
	n.ids = identity.New(identity.Config{Store: svcStore, Sealer: sl, Policies: pol, Trust: pol, RootMayAssumeRoles: !cfg.Enforce})
	pol.Store = n.ids
	var authorizer kms.Authorizer = kms.AccountOwner{}
	if cfg.Enforce {
		authorizer = kms.PolicyAuthorizer{Identities: pol}
	}
	n.svc, err = kms.New(kms.Config{Store: svcStore, Sealer: sl, Authorizer: authorizer, Regions: cfg.Regions, Limiter: cfg.limiter(), CacheSize: cfg.CacheSize})
	if err != nil {
		n.close()
		return nil, err
	}
	if err := attachKeyStores(n.svc, &cfg.CustomKeyStores, cfg.AccountID); err != nil {
		n.close()
		return nil, err
	}
	if sh != nil && withAudit {
		sh.attach(n, mx, log)
	}
	return n, nil
}

func (n *node) close() error {
	var errs []error
	if n.svc != nil {
		n.svc.CloseKeyStores()
	}
	if n.audit != nil {
		errs = append(errs, n.audit.Close())
	}
	if n.index != nil {
		errs = append(errs, n.index.Close())
	}
	errs = append(errs, n.store.Close())
	return errors.Join(errs...)
}

func runServer(ctx context.Context, m mode, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, printOnly, err := loadConfig(m, args, stderr, getenv)
	if err != nil {
		return err
	}
	if printOnly {
		fmt.Fprint(stdout, cfg.printable())
		return nil
	}
	log := newLogger(cfg, stderr)
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit) << 20)
	} else if getenv("GOMEMLIMIT") == "" {
		// GOGC=400 alone lets the heap grow to five times the live data:
		// bound it, with room above what the key cache holds (about 1.2 KiB a
		// key) so the collector does not run much more often at scale. With
		// the default cache that is 284 MiB.
		debug.SetMemoryLimit(defaultMemoryLimit(cfg.CacheSize))
	}
	var mx *metrics.Metrics // measured only where an admin listener can serve it
	if cfg.AdminListen != "" {
		mx = metrics.New(log)
	}
	in, err := startInstance(ctx, cfg, log, stdout, mx)
	if err != nil {
		return err
	}
	var handler http.Handler = in.handler
	current := func() *instance { return in }
	if m == modeDev {
		// Only dev can be reset to a fresh state; serve never.
		r := newResetter(ctx, cfg, log, stdout, in, mx)
		handler, current = r, r.current
	}
	defer func() {
		if in := current(); in != nil {
			in.stop(log)
		}
		log.Info("stopped")
	}()
	defer startAdminSocket(cfg, log, current)() // online backups; closed before the store
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if err := cfg.XKS.configureTLS(hs.TLSConfig); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	banner(stdout, m, cfg, scheme+"://"+ln.Addr().String(), in.bootstrap)
	hs.Handler = mountConsole(stdout, m, cfg, hs.Handler, scheme+"://"+ln.Addr().String())

	if cfg.AdminListen != "" {
		stopAdmin, err := startAdmin(cfg.AdminListen, log, mx, adminConsole(m, cfg, handler))
		if err != nil {
			return err
		}
		defer stopAdmin()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return hs.Shutdown(shutCtx)
}
