// Command kmsd is a key management service that speaks the AWS KMS API.
//
//	kmsd dev      run a local server (permissive auth unless --enforce)
//	kmsd serve    run a server that verifies every signature
//	kmsd admin    manage access keys of a stopped server's data directory
//	kmsd audit    verify an audit log
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kmsd:", err)
		}
		os.Exit(2)
	}
}

const usage = `kmsd — a key management service that speaks the AWS KMS API

Usage:
  kmsd dev   [flags]     run a local server on 127.0.0.1:8080 (accepts any credentials; --enforce to verify)
  kmsd serve [flags]     run a server that verifies every request's signature
  kmsd admin create-access-key [--data DIR] [--account-id ID] [--user NAME]
                         make an access key for the account root or an IAM user (server stopped)
  kmsd admin explain --principal ARN --action kms:ACTION --key KEY [--context k=v]...
                         say whether the principal may do it, and which statement or grant decides (server stopped)
  kmsd audit verify --file FILE [--public-key PEM] [--anchor-file FILE | --anchor-seq N --anchor-hash HEX]
                         check an audit log's hash chain, signed digests and anchor
  kmsd version

Run 'kmsd <command> -h' for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "dev":
		return runServer(ctx, modeDev, args[1:], stdout, stderr, getenv)
	case "serve":
		return runServer(ctx, modeServe, args[1:], stdout, stderr, getenv)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr, getenv)
	case "audit":
		return runAudit(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "kmsd", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

const version = "0.1.0"
