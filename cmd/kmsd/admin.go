package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/policy"
)

const adminUsage = `kmsd admin — work on a server's data directory (most commands need the server stopped)

Usage:
  kmsd admin create-access-key [--config FILE] [--data DIR] [--account-id ID] [--user NAME]
  kmsd admin explain --principal ARN --action kms:ACTION --key KEY [--context k=v]... [--data DIR]
  kmsd admin backup --data DIR --out FILE     (the server may be running)
  kmsd admin restore --data DIR --in FILE     (server stopped)
  kmsd admin check --data DIR [--in FILE]     (the server may be running)

Run 'kmsd admin <command> --help' for its flags and examples.
`

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || wantsHelp(args[:1]) {
		if len(args) > 0 {
			fmt.Fprint(stdout, adminUsage)
			return nil
		}
		fmt.Fprint(stderr, adminUsage)
		return flag.ErrHelp
	}
	if wantsHelp(args) {
		stderr = stdout // asked-for help goes to stdout
	}
	switch args[0] {
	case "explain":
		return helpShown(runExplain(ctx, args[1:], stdout, stderr, getenv))
	case "create-access-key":
		return helpShown(runCreateAccessKey(ctx, args[1:], stdout, stderr, getenv))
	case "backup":
		return helpShown(runBackup(ctx, args[1:], stdout, stderr, getenv))
	case "restore":
		return helpShown(runRestore(ctx, args[1:], stdout, stderr, getenv))
	case "check":
		return helpShown(runCheck(ctx, args[1:], stdout, stderr, getenv))
	}
	fmt.Fprint(stderr, adminUsage)
	return fmt.Errorf("unknown admin command %q", args[0])
}

// runCreateAccessKey makes an access key in a stopped server's store.
func runCreateAccessKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd admin create-access-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setHelp(fs)
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "account the key belongs to")
	user := fs.String("user", "", "IAM user name, created if it does not exist (default: the account root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	n, err := openNode(cfg, nil, nil)
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

// contextFlag collects repeated --context k=v pairs.
type contextFlag map[string]string

func (f contextFlag) String() string { return "" }

func (f contextFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	f[k] = val
	return nil
}

// runExplain prints whether a principal may perform an action on a key,
// and the statement or grant that decides, as kmsd serve (or dev --enforce)
// would answer. It reads the data directory of a stopped server.
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd admin explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setHelp(fs)
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "Region of the key, when --key is not an ARN")
	principal := fs.String("principal", "", "the caller: arn:aws:iam::ACCT:root, arn:aws:iam::ACCT:user/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION")
	action := fs.String("action", "", "the action, such as kms:Decrypt")
	keyID := fs.String("key", "", "key id, key ARN, alias name or alias ARN")
	ec := contextFlag{}
	fs.Var(ec, "context", "an encryption context pair k=v (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *principal == "" || *action == "" || *keyID == "" {
		return errors.New("give --principal, --action and --key (see kmsd admin explain --help)")
	}
	typ, account, ok := policy.ParsePrincipal(*principal)
	if !ok || typ == policy.Service {
		return fmt.Errorf("--principal %q is not the ARN of an account root, an IAM user or a role session", *principal)
	}
	region := cfg.Region
	if parts := strings.Split(*keyID, ":"); len(parts) == 6 && parts[0] == "arn" {
		region = parts[3]
	}
	caller := kms.Caller{AccountID: account, Region: region, ARN: *principal, Type: callerType(typ)}
	cfg.Enforce = true
	n, err := openNode(cfg, nil, nil)
	if err != nil {
		return err
	}
	defer n.close()
	// The caller carries its unique id, which a key policy binds to.
	if id, ok, err := n.ids.UniqueIDOf(ctx, *principal); err != nil {
		return err
	} else if ok {
		caller.PrincipalID = id
	}
	ex, err := n.svc.Explain(ctx, kms.PolicyAuthorizer{Identities: n.policies}, caller, *action, *keyID, ec)
	if err != nil {
		return err
	}
	verdict := "DENIED"
	if ex.Decision.Allowed {
		verdict = "ALLOWED"
	}
	fmt.Fprintf(stdout, "%s: %s %s on %s\n", verdict, *principal, *action, ex.KeyARN)
	fmt.Fprintf(stdout, "  %s\n", ex.Decision)
	if ex.GrantID != "" {
		fmt.Fprintf(stdout, "  grant %s", ex.GrantID)
		if ex.GrantName != "" {
			fmt.Fprintf(stdout, " (%q)", ex.GrantName)
		}
		fmt.Fprintln(stdout)
	}
	if !ex.Decision.Allowed {
		fmt.Fprintf(stdout, "  AccessDeniedException: %s\n", ex.Message)
	}
	return nil
}

func callerType(t policy.PrincipalType) string {
	switch t {
	case policy.Root:
		return identity.TypeRoot
	case policy.AssumedRole:
		return identity.TypeAssumedRole
	}
	return identity.TypeIAMUser
}
