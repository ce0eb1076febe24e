// Command kmsd is a key management service that speaks the AWS KMS API.
//
//	kmsd dev          run a local server (permissive auth unless --enforce)
//	kmsd serve        run a server that verifies every signature
//	kmsd admin        access keys, decisions, backups and checks of a data directory
//	kmsd audit        verify an audit log
//	kmsd healthcheck  ask a running server's /healthz (for containers)
//	kmsd version      print the version, commit and Go version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The live heap is small (cached keys, connections), so the default
		// GOGC=100 collects very often under load; trading some memory for
		// fewer collections takes GC off the request path's CPU bill.
		debug.SetGCPercent(400)
	}
	// kmsd reloads nothing, so SIGHUP (a closed terminal, or a reload
	// request) stops it gracefully like SIGTERM instead of killing it
	// between a change and its audit record's shipping.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	switch {
	case err == nil:
	case errors.Is(err, errUnhealthy):
		fmt.Fprintln(os.Stderr, "kmsd:", err)
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "kmsd:", err)
		os.Exit(2)
	}
}

const usage = `kmsd — a key management service that speaks the AWS KMS API

Point the AWS CLI or any AWS SDK at it by changing only the endpoint URL.

Usage:
  kmsd <command> [flags]

Commands:
  dev          run a local server on 127.0.0.1:8080 (accepts any credentials; --enforce verifies them)
  serve        run a server that verifies every request's signature (TLS, JSON logs)
  admin create-access-key
               make an access key for the account root or an IAM user (server stopped)
  admin explain
               say whether a principal may do an action on a key, and which statement or grant decides
  admin backup, admin restore, admin check
               copy the store while it runs, put a copy back, verify the store's integrity
  audit verify check an audit log's hash chain, signed digests and anchor
  healthcheck  exit 0 if the configured server answers /healthz, 1 if not (for containers)
  version      print the version, VCS commit and Go version (also --version)
  help CMD     the flags of a command, with examples (also kmsd CMD --help)

Examples:
  kmsd dev
  aws --endpoint-url http://127.0.0.1:8080 --region us-east-1 kms create-key
  kmsd serve --config /etc/kmsd/kmsd.yaml
  kmsd help serve
`

// run is kmsd with its arguments and environment; main maps its error to
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	if cmd == "help" && len(rest) > 0 {
		cmd, rest = rest[0], append(rest[1:], "--help")
	}
	switch cmd {
	case "dev", "serve":
		m := mode(cmd)
		if wantsHelp(rest) {
			// Help goes to stdout and exits 0; loadConfig's flag set is
			// the one that lists every flag.
			_, _, err := loadConfig(m, []string{"--help"}, stdout, func(string) string { return "" })
			return helpShown(err)
		}
		return runServer(ctx, m, rest, stdout, stderr, getenv)
	case "admin":
		return runAdmin(ctx, rest, stdout, stderr, getenv)
	case "audit":
		if wantsHelp(rest) {
			return helpShown(runAudit([]string{"verify", "--help"}, stdout, stdout))
		}
		return runAudit(rest, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr, getenv)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, versionText())
		return nil
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// helpShown turns the flag package's "help was asked for" into success.
func helpShown(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// version is kmsd's release; versionText adds what the build recorded.
const version = "0.1.0"
