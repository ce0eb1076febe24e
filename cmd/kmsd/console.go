package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kmsd/kmsd/internal/console"
)

// Where the web console is served (--console, KMSD_CONSOLE, console).
const (
	consoleOn    = "on"    // on the API listener, at /console/
	consoleOff   = "off"   // nowhere
	consoleAdmin = "admin" // on --admin-listen, beside pprof and metrics
)

const consoleHelp = "web console at /console/: on (on the API listener), off, or admin (on the --admin-listen listener); default on in dev, off in serve; e.g. --console admin --admin-listen 127.0.0.1:9090"

// consoleMode resolves the setting for a subcommand. serve leaves the
// console off unless asked: a production endpoint then exposes only the
// API its clients use, and an operator who wants the console chooses where
// people reach it (on, behind the same TLS, or admin, on a listener kept
// to an operator network). The console grants nothing by itself, since
// every call it makes is signed with its user's own credentials; dev turns
// it on because there it is the quickest way to see what kmsd holds.
func (c *Config) consoleMode(m mode) string {
	if c.Console != "" {
		return c.Console
	}
	if m == modeServe {
		return consoleOff
	}
	return consoleOn
}

// validateConsole checks the setting; the admin listener has no TLS, so in
// serve the console (where people type secret keys) goes there only when it
// is loopback or plaintext was accepted.
func (c *Config) validateConsole(m mode) error {
	switch c.consoleMode(m) {
	case consoleOn, consoleOff:
		return nil
	case consoleAdmin:
		if c.AdminListen == "" {
			return fmt.Errorf("--console admin serves the console on the admin listener: give --admin-listen too (e.g. 127.0.0.1:9090), or use --console on")
		}
		if m == modeServe && !loopback(c.AdminListen) && !c.InsecureAllowPlaintextListener {
			return fmt.Errorf("--console admin would take secret keys over the admin listener %s, which has no TLS: give it a loopback address, use --console on (behind --tls-cert), or accept it with --insecure-allow-plaintext-listener", c.AdminListen)
		}
		return nil
	}
	return fmt.Errorf("console %q is not on, off or admin (--console, KMSD_CONSOLE, console)", c.Console)
}

// mountConsole returns the API listener's handler with the console at
// /console/ when it is on there, and prints where it is.
func mountConsole(w io.Writer, m mode, cfg Config, api http.Handler, url string) http.Handler {
	switch cfg.consoleMode(m) {
	case consoleOn:
		fmt.Fprintf(w, "  console: %s%s\n", url, console.Prefix)
		return consoleRouter{console: console.New(), api: api}
	case consoleAdmin:
		fmt.Fprintf(w, "  console: http://%s%s (admin listener)\n", cfg.AdminListen, console.Prefix)
	}
	return api
}

// adminConsole is what the admin listener serves at "/" when the console
// is there: the console, and the API at POST / for the calls the page
// makes to its own origin. Those calls are authenticated, authorized and
// audited exactly as on the API listener, by the same handler.
func adminConsole(m mode, cfg Config, api http.Handler) http.Handler {
	if cfg.consoleMode(m) != consoleAdmin {
		return nil
	}
	return consoleRouter{console: console.New(), api: api, apiAtRootOnly: true}
}

type consoleRouter struct {
	console, api  http.Handler
	apiAtRootOnly bool
}

func (c consoleRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, console.Prefix):
		c.console.ServeHTTP(w, r)
	case c.apiAtRootOnly && (r.URL.Path != "/" || r.Method != http.MethodPost):
		http.NotFound(w, r)
	default:
		c.api.ServeHTTP(w, r)
	}
}
