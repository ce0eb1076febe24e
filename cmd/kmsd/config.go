package main

import (
	"crypto/fips140"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kmsd/kmsd/internal/api/sigv4"
)

// Config is everything a kmsd process is told. Defaults come from
// defaultConfig; a YAML file, then KMSD_* environment variables, then flags
// override them, in that order.
type Config struct {
	Listen    string `yaml:"listen" env:"KMSD_LISTEN"`
	DataDir   string `yaml:"data" env:"KMSD_DATA"`
	AccountID string `yaml:"account_id" env:"KMSD_ACCOUNT_ID"`
	Region    string `yaml:"region" env:"KMSD_REGION"`
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
	LogLevel     string        `yaml:"log_level" env:"KMSD_LOG_LEVEL"`
	LogFormat    string        `yaml:"log_format" env:"KMSD_LOG_FORMAT"`
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
		LogLevel:      "info",
		LogFormat:     "text",
	}
}

// loadFile overlays a YAML config file; unknown keys are errors so a typo
// does not silently fall back to a default.
func (c *Config) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
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
	return nil
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
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (store, root key, audit log)")
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
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
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
	case c.RootSecretKey != "" && len(c.RootSecretKey) < sigv4.MinFIPSSecretLen && fips140.Enforced():
		return fmt.Errorf("the root secret key is shorter than %d characters, which FIPS 140-only mode cannot use for SigV4", sigv4.MinFIPSSecretLen)
	}
	return c.Regions.validate(c.Region)
}

// printable is the config with secrets masked, for --print-config.
func (c Config) printable() string {
	if c.RootSecretKey != "" {
		c.RootSecretKey = "[redacted]"
	}
	b, _ := yaml.Marshal(c)
	return string(b)
}
