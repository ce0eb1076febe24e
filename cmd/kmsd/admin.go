package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/identity"
)

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "create-access-key" {
		fmt.Fprint(stderr, "usage: kmsd admin create-access-key [--data DIR] [--account-id ID] [--user NAME]\n")
		return flag.ErrHelp
	}
	cfg := defaultConfig()
	if err := cfg.loadEnv(getenv); err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd admin create-access-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "account the key belongs to")
	user := fs.String("user", "", "IAM user name, created if it does not exist (default: the account root)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	n, err := openNode(cfg, false)
	if err != nil {
		return err
	}
	defer n.close()
	principal := identity.RootARN(cfg.AccountID)
	if *user != "" {
		u, err := n.ids.GetUser(ctx, cfg.AccountID, *user)
		if identity.CodeOf(err) == identity.CodeNoSuchEntity {
			if u, err = n.ids.CreateUser(ctx, cfg.AccountID, identity.CreateUserInput{UserName: *user}); err == nil {
				fmt.Fprintf(stdout, "Created the IAM user %s.\n", u.ARN())
			}
		}
		if err != nil {
			return err
		}
		principal = u.ARN()
	}
	akid, sec, err := n.ids.CreateAccessKey(ctx, cfg.AccountID, *user)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created an access key for %s. The secret is shown only now:\n\n", principal)
	fmt.Fprintf(stdout, "  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n\n", akid, string(sec))
	fmt.Fprintln(stdout, "Start the server again (kmsd serve) and sign requests with it.")
	return nil
}

func runAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, "usage: kmsd audit verify --file FILE\n")
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("kmsd audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "./kmsd-data/audit/kmsd-audit.jsonl", "audit log to verify")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rep, err := audit.VerifyFile(*file)
	if err != nil {
		return fmt.Errorf("audit log %s failed verification: %w", *file, err)
	}
	fmt.Fprintf(stdout, "audit log %s: %d records, hash chain intact through seq %d\n", *file, rep.Records, rep.LastSeq)
	return nil
}
