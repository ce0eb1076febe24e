package main

import (
	"crypto/fips140"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/quota"
)

// Config is everything a kmsd process is told. Defaults come from
// defaultConfig; a YAML file, then KMSD_* environment variables, then flags
// override them, in that order.
type Config struct {
	Listen  string `yaml:"listen" env:"KMSD_LISTEN"`
	DataDir string `yaml:"data" env:"KMSD_DATA"`
	// Store is a postgres:// URL for a cluster of nodes sharing one
	// PostgreSQL database (serve only); empty keeps the bbolt file in
	// DataDir. NodeID names this node (default: made at first start and
	// kept in DataDir); OutboxGrace is how old an audit outbox entry must
	// be before the leader ships it for a node that did not (cluster.go).
	Store       string        `yaml:"store" env:"KMSD_STORE"`
	NodeID      string        `yaml:"node_id" env:"KMSD_NODE_ID"`
	OutboxGrace time.Duration `yaml:"outbox_grace" env:"KMSD_OUTBOX_GRACE"`
	AccountID   string        `yaml:"account_id" env:"KMSD_ACCOUNT_ID"`
	Region      string        `yaml:"region" env:"KMSD_REGION"`
	// Regions lists the Regions served, taken from each request's SigV4
	// scope; empty serves any. Multi-Region keys replicate among them.
	Regions regionList `yaml:"regions,omitempty" env:"KMSD_REGIONS"`

	// Enforce verifies SigV4 on every request (always on in serve mode).
	Enforce       bool          `yaml:"enforce" env:"KMSD_ENFORCE"`
	RootAccessKey string        `yaml:"root_access_key" env:"KMSD_ROOT_ACCESS_KEY"`
	RootSecretKey string        `yaml:"root_secret_key" env:"KMSD_ROOT_SECRET_KEY"`
	MaxSkew       time.Duration `yaml:"max_skew" env:"KMSD_MAX_SKEW"`

	TLSCert string `yaml:"tls_cert" env:"KMSD_TLS_CERT"`
	TLSKey  string `yaml:"tls_key" env:"KMSD_TLS_KEY"`

	Seed            string `yaml:"seed" env:"KMSD_SEED"`
	AuditFailClosed bool   `yaml:"audit_fail_closed" env:"KMSD_AUDIT_FAIL_CLOSED"`
	// AuditAsync (dev only) answers before the audit record is fsynced.
	AuditAsync   bool          `yaml:"audit_async" env:"KMSD_AUDIT_ASYNC"`
	JobsInterval time.Duration `yaml:"jobs_interval" env:"KMSD_JOBS_INTERVAL"`
	AdminListen  string        `yaml:"admin_listen" env:"KMSD_ADMIN_LISTEN"`
	Console      string        `yaml:"console" env:"KMSD_CONSOLE"` // where the web console is served (console.go)
	LogLevel     string        `yaml:"log_level" env:"KMSD_LOG_LEVEL"`
	LogFormat    string        `yaml:"log_format" env:"KMSD_LOG_FORMAT"`
	// CacheSize bounds the keys kept unsealed in memory; MemoryLimit (MiB)
	// is the Go heap's soft limit, as GOMEMLIMIT, which applies when 0.
	CacheSize   int `yaml:"cache_size" env:"KMSD_CACHE_SIZE"`
	MemoryLimit int `yaml:"memory_limit" env:"KMSD_MEMORY_LIMIT"`

	// Quotas is the request-rate quota setting (quota.Parse): aws, off,
	// a scale of AWS's rates, and name=rate overrides.
	Quotas quotaSetting `yaml:"quotas" env:"KMSD_QUOTAS"`

	// Explicit consent to listen beyond loopback in a way that is unsafe
	// there: serve without TLS, dev without signature verification.
	InsecureAllowPlaintextListener  bool `yaml:"insecure_allow_plaintext_listener" env:"KMSD_INSECURE_ALLOW_PLAINTEXT_LISTENER"`
	InsecureAllowPermissiveListener bool `yaml:"insecure_allow_permissive_listener" env:"KMSD_INSECURE_ALLOW_PERMISSIVE_LISTENER"`

	// Seal is what protects the root keyring (seal.go); KMSD_SEAL_* variables.
	Seal SealConfig `yaml:"seal,omitempty"`
	// XKS serves the XKS Proxy API (xks.go); KMSD_XKS_* variables.
	XKS xksConfig `yaml:"xks,omitempty"`
	// CustomKeyStores is what custom key stores connect to (cks.go).
	CustomKeyStores cksConfig `yaml:"custom_key_stores,omitempty"`
}

// The AWS documentation's example credentials: well known on purpose, so a
// laptop setup needs no secret of its own.
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func defaultConfig() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		DataDir:       "./kmsd-data",
		AccountID:     "111122223333",
		Region:        "us-east-1",
		RootAccessKey: docAccessKey,
		RootSecretKey: docSecretKey,
		MaxSkew:       5 * time.Minute,
		JobsInterval:  time.Minute,
		OutboxGrace:   time.Minute,
		LogLevel:      "info",
		LogFormat:     "text",
		Quotas:        "off",
		CacheSize:     20000,
	}
}

// defaultMemoryLimit is the Go heap's soft limit in bytes when neither
// --memory-limit nor GOMEMLIMIT sets one: 128 MiB, and 8 KiB for each key
// the cache may hold. A cached key takes about 1.2 KiB; the rest is room
// for the collector, which GOGC=400 alone would let grow to five times the
// live data.
func defaultMemoryLimit(cacheSize int) int64 { return 128<<20 + int64(max(cacheSize, 0))<<13 }

// maxSkewCap bounds --max-skew: the skew is how long a captured signed
// request can be replayed. AWS accepts 5 minutes.
const maxSkewCap = 15 * time.Minute

// loadFile overlays a YAML config file; unknown keys are errors so a typo
// does not silently fall back to a default.
func (c *Config) loadFile(path string) error {
	if err := decodeYAMLFile(path, c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// configPath is the config file to read: --config, else KMSD_CONFIG.
func configPath(args []string, getenv func(string) string) string {
	if p := flagValue(args, "config"); p != "" {
		return p
	}
	return getenv("KMSD_CONFIG")
}

// fileAndEnvConfig is the configuration before flags: defaults, the
// --config file (or KMSD_CONFIG), then KMSD_* variables. The admin commands
// start from it, so they find the data directory a server was told.
func fileAndEnvConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path := configPath(args, getenv); path != "" {
		if err := cfg.loadFile(path); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.loadEnv(getenv)
}

// loadEnv overlays KMSD_* environment variables.
func (c *Config) loadEnv(getenv func(string) string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		s := getenv(name)
		if name == "" || s == "" {
			continue
		}
		if err := setField(v.Field(i), s); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := c.XKS.loadEnv(getenv); err != nil {
		return err
	}
	return c.Seal.loadEnv(getenv)
}

func setField(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case regionList:
		var l regionList
		if err := l.Set(s); err != nil {
			return err
		}
		f.Set(reflect.ValueOf(l))
	case quotaSetting:
		f.SetString(s)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
	}
	return nil
}

// quotaSetting is the --quotas setting as quota.Parse reads it. In YAML it
// is that string, or a map of quota names to requests per second (AWS's
// defaults for the rest; a "base" entry of off or a scale changes that).
type quotaSetting string

func (q *quotaSetting) String() string { return string(*q) }

// Set takes the setting as given; validate parses it.
func (q *quotaSetting) Set(s string) error {
	*q = quotaSetting(s)
	return nil
}

// UnmarshalYAML accepts the setting string or a map of overrides.
func (q *quotaSetting) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*q = quotaSetting(n.Value)
		return nil
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		return err
	}
	parts := []string{"aws"}
	if base, ok := m["base"]; ok {
		parts[0] = base
		delete(m, "base")
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		parts = append(parts, name+"="+m[name])
	}
	*q = quotaSetting(strings.Join(parts, ","))
	return nil
}

func (q *quotaSetting) yamlExpect() string {
	return "aws, off, a scale of AWS's rates such as 0.1, or a map of quota names to requests per second"
}

// limiter is the request-rate limiter the quota setting asks for, or nil
// for none (validate has refused a setting that does not parse).
func (c *Config) limiter() kms.Limiter {
	r, err := quota.Parse(string(c.Quotas))
	if err != nil {
		return nil
	}
	if l := quota.New(r); l != nil {
		return l
	}
	return nil
}

// regionList is a list of Regions, written us-east-1,us-west-2 in a flag
// or variable and as a list (or the same comma-separated string) in YAML.
type regionList []string

func (l *regionList) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the comma-separated Regions in s.
func (l *regionList) Set(s string) error {
	*l = nil
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			*l = append(*l, r)
		}
	}
	return nil
}

// UnmarshalYAML accepts a YAML list or a comma-separated string.
func (l *regionList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return l.Set(n.Value)
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

func (l *regionList) yamlExpect() string {
	return "a list of Regions such as [us-east-1, eu-west-1]"
}

// validRegionName accepts AWS's Region names and private ones like local-1:
// lower-case letters, digits and dashes, as SigV4 scopes carry them.
func validRegionName(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	return strings.Trim(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

func (l regionList) validate(defaultRegion string) error {
	seen := map[string]bool{}
	for _, r := range l {
		if !validRegionName(r) {
			return fmt.Errorf("region %q in --regions is not a Region name (like us-east-1)", r)
		}
		if seen[r] {
			return fmt.Errorf("region %s is listed twice in --regions", r)
		}
		seen[r] = true
	}
	if len(l) > 0 && !seen[defaultRegion] {
		return fmt.Errorf("the default region %s must be one of --regions %s", defaultRegion, l.String())
	}
	return nil
}

// bindFlags registers a flag per field, with the current value as default.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	setHelp(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (store, root key, audit log)")
	fs.StringVar(&c.Store, "store", c.Store, "serve: postgres://user:password@host/db to run as one node of a cluster sharing that database (default: the bbolt file in --data)")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "cluster: this node's id (default: made at first start and kept in --data)")
	fs.DurationVar(&c.OutboxGrace, "outbox-grace", c.OutboxGrace, "cluster: age after which the leader ships to its own log the audit records another node left in the store's outbox")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID, "AWS account id of the default account")
	fs.StringVar(&c.Region, "region", c.Region, "Region for requests that name none")
	fs.Var(&c.Regions, "regions", "comma-separated Regions to serve, e.g. us-east-1,us-west-2,eu-west-1 (default: any)")
	fs.StringVar(&c.RootAccessKey, "root-access-key", c.RootAccessKey, "access key id of the account root")
	fs.StringVar(&c.RootSecretKey, "root-secret-key", c.RootSecretKey, "secret access key of the account root")
	fs.DurationVar(&c.MaxSkew, "max-skew", c.MaxSkew, "largest accepted difference between a request's signing time and now")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key file (PEM)")
	fs.StringVar(&c.Seed, "seed", c.Seed, "YAML file of keys, aliases and tags to create at start")
	fs.BoolVar(&c.AuditFailClosed, "audit-fail-closed", c.AuditFailClosed, "answer no request whose audit record is not durably written (always on in serve)")
	fs.BoolVar(&c.AuditAsync, "audit-async", c.AuditAsync, "dev only: answer before the audit record is fsynced (a crash loses the last few milliseconds of records)")
	fs.DurationVar(&c.JobsInterval, "jobs-interval", c.JobsInterval, "how often background jobs (scheduled deletion) run")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "address for the admin listener (pprof); off when empty")
	fs.StringVar(&c.Console, "console", c.Console, consoleHelp)
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.IntVar(&c.CacheSize, "cache-size", c.CacheSize, "keys and aliases kept in memory with their unsealed material and parsed policy, a cold one evicted first and, once full, a key taken in on its second miss (about 1.2 KiB each), e.g. --cache-size 1000000")
	fs.IntVar(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft limit of the Go heap in MiB, so collections speed up near it instead of the heap growing to 5x the live data (0: GOMEMLIMIT if set, else 128 MiB plus 8 KiB per --cache-size entry), e.g. --memory-limit 1024")
	fs.Var(&c.Quotas, "quotas", "request-rate quotas: aws (AWS's rates, answering ThrottlingException above them), off, or a scale of AWS's rates such as 0.1; then name=rate overrides, e.g. aws,CreateKey=1,symmetric=100 (default aws in serve, off in dev)")
	fs.BoolVar(&c.InsecureAllowPlaintextListener, "insecure-allow-plaintext-listener", c.InsecureAllowPlaintextListener, "serve: allow a listener beyond loopback without TLS (requests, data keys and plaintexts cross the network in the clear)")
	fs.BoolVar(&c.InsecureAllowPermissiveListener, "insecure-allow-permissive-listener", c.InsecureAllowPermissiveListener, "dev: allow a listener beyond loopback without --enforce (anyone who reaches it acts as the account root)")
	c.Seal.bindFlags(fs)
	c.XKS.bindFlags(fs)
	c.CustomKeyStores.bindFlags(fs)
}

func (c *Config) validate() error {
	switch {
	case len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "":
		return fmt.Errorf("account id %q must be 12 digits", c.AccountID)
	case c.Region == "":
		return fmt.Errorf("region must not be empty")
	case !validRegionName(c.Region):
		return fmt.Errorf("region %q is not a Region name (like us-east-1)", c.Region)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("set both --tls-cert and --tls-key, or neither")
	case c.JobsInterval <= 0:
		return fmt.Errorf("jobs interval must be positive")
	case c.MaxSkew <= 0:
		return fmt.Errorf("max skew must be positive")
	case c.MaxSkew > maxSkewCap:
		return fmt.Errorf("max skew %v is more than %v, the most kmsd accepts (AWS accepts 5m): a signed request can be replayed for that long; fix the clocks instead", c.MaxSkew, maxSkewCap)
	case c.RootSecretKey != "" && len(c.RootSecretKey) < sigv4.MinFIPSSecretLen && fips140.Enforced():
		return fmt.Errorf("the root secret key is shorter than %d characters, which FIPS 140-only mode cannot use for SigV4", sigv4.MinFIPSSecretLen)
	}
	if _, err := quota.Parse(string(c.Quotas)); err != nil {
		return err
	}
	if err := c.validateSeal(); err != nil {
		return err
	}
	if _, err := c.logLevel(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log format %q is not text or json (--log-format, KMSD_LOG_FORMAT, log_format)", c.LogFormat)
	}
	if err := c.XKS.validate(c.TLSCert != ""); err != nil {
		return err
	}
	return c.Regions.validate(c.Region)
}

// logLevel parses the log level: debug, info, warn or error.
func (c *Config) logLevel() (slog.Level, error) {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is not debug, info, warn or error (--log-level, KMSD_LOG_LEVEL, log_level)", c.LogLevel)
}

// validateFor adds the checks that depend on the subcommand: a listener
// beyond loopback must not take plaintext (serve) or unverified
// credentials (dev) unless the flag that says so is given.
func (c *Config) validateFor(m mode) error {
	if err := c.validate(); err != nil {
		return err
	}
	if err := c.validateStore(m); err != nil {
		return err
	}
	if err := c.validateConsole(m); err != nil {
		return err
	}
	if err := c.CustomKeyStores.validate(m); err != nil {
		return err
	}
	if loopback(c.Listen) {
		return nil
	}
	switch {
	case m == modeServe && c.TLSCert == "" && !c.InsecureAllowPlaintextListener:
		return fmt.Errorf("kmsd serve would listen on %s without TLS, so requests, data keys and plaintexts would cross the network in the clear: give --tls-cert and --tls-key, listen on a loopback address such as 127.0.0.1:8443, or accept it with --insecure-allow-plaintext-listener", c.Listen)
	case m == modeDev && !c.Enforce && !c.InsecureAllowPermissiveListener:
		return fmt.Errorf("kmsd dev accepts any credentials as the root of account %s, so it listens beyond loopback (%s) only with --enforce, which verifies signatures; or listen on 127.0.0.1, or accept it with --insecure-allow-permissive-listener", c.AccountID, c.Listen)
	}
	return nil
}

// loopback reports whether a listen address takes connections from this
// machine only: a loopback IP or localhost. An empty host is every
// interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnSecretFlags warns, on stderr, about a secret given as a flag: the
// process list and the shell history show it to others.
func warnSecretFlags(fs *flag.FlagSet, stderr io.Writer) {
	fs.Visit(func(f *flag.Flag) {
		warnXKSSecretFlag(f, stderr)
		if f.Name == "root-secret-key" {
			fmt.Fprintln(stderr, "kmsd: warning: --root-secret-key shows the secret in the process list and the shell history; set KMSD_ROOT_SECRET_KEY, or root_secret_key in the --config file, instead")
		}
		if f.Name == "store" && redactDSN(f.Value.String()) != f.Value.String() {
			fmt.Fprintln(stderr, "kmsd: warning: --store shows the database password in the process list and the shell history; set KMSD_STORE, or store in the --config file, or keep the password in a PGPASSFILE, instead")
		}
	})
}

// printable is the config with secrets masked, for --print-config.
func (c Config) printable() string {
	if c.RootSecretKey != "" {
		c.RootSecretKey = "[redacted]"
	}
	c.Store = redactDSN(c.Store)
	c.XKS = c.XKS.redacted()
	b, _ := yaml.Marshal(c)
	return string(b)
}
