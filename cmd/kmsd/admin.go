package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kmsd/kmsd/internal/iamapi"
	"github.com/kmsd/kmsd/internal/identity"
)

const adminUsage = `kmsd admin — work on a server's data directory (most commands need the server stopped)

Usage:
  kmsd admin create-access-key [--config FILE] [--data DIR] [--account-id ID] [--user NAME]
  kmsd admin create-access-key --endpoint URL [--user NAME]     (a running server)
  kmsd admin explain --principal ARN --action kms:ACTION --key KEY [--context k=v]... [--data DIR]
  kmsd admin explain --endpoint URL --principal ARN --action kms:ACTION --key KEY ...  (a running server)
  kmsd admin backup --data DIR --out FILE     (the server may be running)
  kmsd admin restore --data DIR --in FILE     (server stopped)
  kmsd admin check --data DIR [--in FILE]     (the server may be running)
  kmsd admin rotate-root --data DIR [--retire] (the server may be running)
  kmsd admin migrate-seal --data DIR --to pkcs11|awskms|file [--seal-...]  (server stopped)
  kmsd admin xks-credential [--uri-prefix PREFIX] [--out FILE]  (an XKS Proxy API credential)

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
	case "rotate-root":
		return helpShown(runRotateRoot(ctx, args[1:], stdout, stderr, getenv))
	case "migrate-seal":
		return helpShown(runMigrateSeal(ctx, args[1:], stdout, stderr, getenv))
	case "xks-credential":
		return helpShown(runXKSCredential(args[1:], stdout, stderr))
	}
	fmt.Fprint(stderr, adminUsage)
	return fmt.Errorf("unknown admin command %q", args[0])
}

// runCreateAccessKey makes an access key in a stopped server's store, or
// with --endpoint through a running server's IAM API.
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
	endpoint := fs.String("endpoint", "", "URL of a running server: make the key through its IAM API, signed with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's default credentials (e.g. --endpoint http://127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint != "" {
		if flagGiven(fs, "data") || flagGiven(fs, "account-id") {
			return errors.New("--endpoint makes the key on a running server, in the account of the credentials it signs with: leave out --data and --account-id")
		}
		c, err := iamClient(ctx, *endpoint, "", getenv)
		if err != nil {
			return err
		}
		return createAccessKeyOnline(ctx, c, *user, stdout)
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

// flagGiven reports whether the command line set the flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
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
// and the statement or grant that decides, as kmsd serve (or dev
// --enforce) would answer: on the data directory of a stopped server, or
// with --endpoint by asking a running one (SimulatePrincipalPolicy). Both
// decide through the same simulator.
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
	principal := fs.String("principal", "", "the caller: arn:aws:iam::ACCT:root, arn:aws:iam::ACCT:user/NAME, arn:aws:iam::ACCT:role/NAME or arn:aws:sts::ACCT:assumed-role/ROLE/SESSION")
	action := fs.String("action", "", "the action, such as kms:Decrypt")
	keyID := fs.String("key", "", "key id, key ARN, alias name or alias ARN")
	ec := contextFlag{}
	fs.Var(ec, "context", "an encryption context pair k=v (repeatable)")
	conds := contextFlag{}
	fs.Var(conds, "condition", "another condition key of the request, key=value (repeatable; e.g. --condition aws:SourceIp=192.0.2.10)")
	endpoint := fs.String("endpoint", "", "URL of a running server: ask it through SimulatePrincipalPolicy, signed with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's default credentials (e.g. --endpoint http://127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *principal == "" || *action == "" || *keyID == "" {
		return errors.New("give --principal, --action and --key (see kmsd admin explain --help)")
	}
	p, ok := identity.ParseARN(*principal)
	if !ok {
		return fmt.Errorf("--principal %q is not the ARN of an account root, an IAM user, a role or a role session", *principal)
	}
	resource := keyResourceARN(*keyID, cfg.Region, p.Account)
	entries := contextEntries(ec, conds)
	if *endpoint != "" {
		region := ""
		if flagGiven(fs, "region") {
			region = cfg.Region
		}
		c, err := iamClient(ctx, *endpoint, region, getenv)
		if err != nil {
			return err
		}
		return explainOnline(ctx, c, *principal, *action, resource, sdkContextEntries(entries), stdout)
	}
	cfg.Enforce = true
	n, err := openNode(cfg, nil, nil)
	if err != nil {
		return err
	}
	defer n.close()
	sim := &iamapi.Simulator{Identities: n.ids, Keys: n.svc, Operator: true}
	res, err := sim.Simulate(ctx, &iamapi.SimulationInput{PolicySourceArn: *principal, ActionNames: []string{*action},
		ResourceArns: []string{resource}, ContextEntries: entries})
	if err != nil {
		return err
	}
	r := &res[0]
	if r.KeyError != "" {
		return fmt.Errorf("%s (in %s)", r.KeyError, cfg.DataDir)
	}
	v := viewOf(*principal, r)
	v.writeVerdict(stdout)
	fmt.Fprintf(stdout, "  %s\n", r.Decision)
	v.writeStatements(stdout, r.GrantName)
	if r.EvalDecision != "allowed" {
		fmt.Fprintf(stdout, "  AccessDeniedException: %s\n", r.Message)
	}
	return nil
}
