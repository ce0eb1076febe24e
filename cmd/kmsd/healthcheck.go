package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// errUnhealthy makes kmsd exit with status 1, which container runtimes
// read as "unhealthy" (2 is reserved there).
var errUnhealthy = errors.New("unhealthy")

// runHealthcheck asks a kmsd's /healthz and fails unless it answers 200.
// A scratch container image has no curl; its HEALTHCHECK runs this.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if wantsHelp(args) {
		fs.SetOutput(stdout)
	}
	setHelp(fs)
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "the server's listen address, when not in KMSD_LISTEN or the config file")
	url := fs.String("url", "", "URL to ask instead of the configured server's /healthz")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return helpShown(err)
	}
	target := *url
	if target == "" {
		if target, err = healthURL(cfg); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("--url %q: %w", target, err)
	}
	client := &http.Client{Transport: &http.Transport{
		// Only liveness is asked and nothing secret is sent; the
		// server's certificate names its public host, not this address.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errUnhealthy, target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", errUnhealthy, target, resp.Status)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", target)
	return nil
}

// healthURL is the /healthz URL of the server cfg describes, asked over
// loopback when it listens on every interface.
func healthURL(cfg Config) (string, error) {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}
