package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// command is what a subcommand's --help says besides its flags.
type command struct {
	// noEnv: the command reads no KMSD_* variables.
	noEnv    bool
	synopsis string
	usage    []string
	about    string
	examples []string
}

// commandHelp describes each subcommand, by its flag set's name.
func commandHelp(name string) command {
	switch name {
	case "kmsd dev":
		return command{
			synopsis: "run a local KMS server for development and tests",
			usage:    []string{"kmsd dev [flags]"},
			about: `Listens on 127.0.0.1:8080 and keeps its data in ./kmsd-data. Any credentials are
accepted and act as the root of --account-id, in the Region of each request's
signature; with --enforce, signatures are verified against --root-access-key and
--root-secret-key (by default AWS's documentation example pair) and every key
and identity policy is enforced. Settings come from defaults, then the --config
file, then KMSD_* variables, then flags.`,
			examples: []string{
				"kmsd dev",
				"kmsd dev --enforce --data /var/lib/kmsd",
				"kmsd dev --seed fixtures.yaml --regions us-east-1,eu-west-1",
				"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=x aws --endpoint-url http://127.0.0.1:8080 --region us-east-1 kms create-key",
			},
		}
	case "kmsd serve":
		return command{
			synopsis: "run a server that verifies every request's signature",
			usage:    []string{"kmsd serve [--config kmsd.yaml] [flags]"},
			about: `Verifies SigV4 on every request against the access keys in its store, enforces
every policy, and answers only once a request's audit record is durable. The
first start on an empty data directory prints an access key for the account
root, once. Beyond loopback it needs TLS (--tls-cert, --tls-key). Logs are
JSON. Settings come from defaults, then the --config file (or KMSD_CONFIG),
then KMSD_* variables, then flags. SIGTERM, SIGINT and SIGHUP stop it
gracefully: in-flight requests finish and key usage is flushed.`,
			examples: []string{
				"kmsd serve --config /etc/kmsd/kmsd.yaml",
				"kmsd serve --listen 0.0.0.0:8443 --tls-cert server.pem --tls-key server-key.pem --data /var/lib/kmsd",
				"KMSD_CONFIG=/etc/kmsd/kmsd.yaml kmsd serve --print-config",
			},
		}
	case "kmsd admin create-access-key":
		return command{
			synopsis: "make an access key for the account root or an IAM user",
			usage: []string{
				"kmsd admin create-access-key [--config FILE] [--data DIR] [--account-id ID] [--user NAME]",
				"kmsd admin create-access-key --endpoint URL [--user NAME]",
			},
			about: `Works on the data directory of a stopped server and prints the secret once.
With --endpoint it asks a running server instead, through IAM CreateUser and
CreateAccessKey, signed with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the
AWS SDK's default credentials): the key is made in the signer's account, the
call is authorized and audited like any other, and the key works at once.`,
			examples: []string{
				"kmsd admin create-access-key --data /var/lib/kmsd",
				"kmsd admin create-access-key --config /etc/kmsd/kmsd.yaml --user ci-deployer",
				"kmsd admin create-access-key --endpoint https://kms.internal:8443 --user ci-deployer",
			},
		}
	case "kmsd admin explain":
		return command{
			synopsis: "say whether a principal may do an action on a key, and why",
			usage: []string{
				"kmsd admin explain --principal ARN --action kms:ACTION --key KEY [--context k=v]... [--condition k=v]... [--data DIR]",
				"kmsd admin explain --endpoint URL --principal ARN --action kms:ACTION --key KEY [--context k=v]... [--condition k=v]...",
			},
			about: `Evaluates the key policy, the caller's identity policies and the grants as
kmsd serve (or dev --enforce) would, and names the statement or grant that
decides: on the data directory of a stopped server, or with --endpoint by
asking a running one through IAM SimulatePrincipalPolicy (signed with
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's default
credentials; the signer needs iam:SimulatePrincipalPolicy on the principal).`,
			examples: []string{
				"kmsd admin explain --principal arn:aws:iam::111122223333:user/bob --action kms:Decrypt --key alias/orders",
				"kmsd admin explain --config kmsd.yaml --principal arn:aws:sts::111122223333:assumed-role/App/worker --action kms:Encrypt --key alias/orders --context tenant=acme",
				"kmsd admin explain --endpoint http://127.0.0.1:8080 --principal arn:aws:iam::111122223333:role/App --action kms:Decrypt --key alias/orders --context tenant=acme",
			},
		}
	case "kmsd audit verify":
		return command{
			noEnv:    true,
			synopsis: "check an audit log's hash chain, signed digests and anchor",
			usage: []string{
				"kmsd audit verify --data DIR",
				"kmsd audit verify [--file LOG] [--public-key PEM] [--digests FILE] [--anchor-seq N --anchor-hash HEX | --anchor-file FILE]",
			},
			about: `Fails, naming the file and line, at the first record that was edited, removed
or reordered. With --data (the server stopped) the digest public key and the
anchor come from the data directory's store, authenticated under its root key.`,
			examples: []string{
				"kmsd audit verify --data ./kmsd-data",
				"kmsd audit verify --file kmsd-audit.jsonl --public-key digest-public-key.pem",
			},
		}
	case "kmsd healthcheck":
		return command{
			synopsis: "exit 0 if a kmsd answers /healthz, 1 if not",
			usage:    []string{"kmsd healthcheck [--url URL] [--listen ADDR] [--timeout D]"},
			about: `For container health checks, where no curl is at hand. Without --url it asks
the server this configuration describes (--listen, KMSD_LISTEN or the
--config file; https when a TLS certificate is configured, without checking
it, since only liveness is asked and nothing secret is sent).`,
			examples: []string{
				"kmsd healthcheck",
				"kmsd healthcheck --url http://127.0.0.1:8080/healthz --timeout 2s",
			},
		}
	}
	return storeCommandHelp(name)
}

// flagExample is an example value for a flag whose usage text has none.
func flagExample(name string) string {
	switch name {
	case "listen":
		return "--listen 0.0.0.0:8080"
	case "data":
		return "--data /var/lib/kmsd"
	case "account-id":
		return "--account-id 444455556666"
	case "region":
		return "--region eu-west-1"
	case "regions":
		return "--regions us-east-1,us-west-2,local-1"
	case "root-access-key":
		return "--root-access-key AKIAIOSFODNN7EXAMPLE"
	case "root-secret-key":
		return "KMSD_ROOT_SECRET_KEY=... (a flag shows the secret in the process list)"
	case "max-skew":
		return "--max-skew 2m"
	case "tls-cert":
		return "--tls-cert /etc/kmsd/server.pem"
	case "tls-key":
		return "--tls-key /etc/kmsd/server-key.pem"
	case "seed":
		return "--seed fixtures.yaml"
	case "audit-fail-closed":
		return "--audit-fail-closed"
	case "audit-async":
		return "--audit-async"
	case "jobs-interval":
		return "--jobs-interval 10s"
	case "store":
		return "KMSD_STORE='postgres://kmsd:PASSWORD@db.internal:5432/kmsd?sslmode=verify-full' (a flag shows the password in the process list)"
	case "node-id":
		return "--node-id kms-a"
	case "outbox-grace":
		return "--outbox-grace 2m"
	case "admin-listen":
		return "--admin-listen 127.0.0.1:6060 (then go tool pprof http://127.0.0.1:6060/debug/pprof/profile)"
	case "log-level":
		return "--log-level debug"
	case "log-format":
		return "--log-format json"
	case "quotas":
		return "--quotas 0.1 or --quotas aws,CreateKey=1"
	case "insecure-allow-plaintext-listener":
		return "kmsd serve --listen 0.0.0.0:8443 --insecure-allow-plaintext-listener (behind a TLS proxy)"
	case "insecure-allow-permissive-listener":
		return "kmsd dev --listen 0.0.0.0:8080 --insecure-allow-permissive-listener (an isolated test network)"
	case "config":
		return "--config /etc/kmsd/kmsd.yaml"
	case "print-config":
		return "kmsd serve --config kmsd.yaml --print-config"
	case "enforce":
		return "kmsd dev --enforce"
	case "ephemeral":
		return "kmsd dev --ephemeral"
	case "user":
		return "--user ci-deployer"
	case "principal":
		return "--principal arn:aws:iam::111122223333:user/bob"
	case "action":
		return "--action kms:Decrypt"
	case "key":
		return "--key alias/orders"
	case "context":
		return "--context tenant=acme --context env=prod"
	case "file":
		return "--file ./kmsd-data/audit/kmsd-audit.jsonl"
	case "public-key":
		return "--public-key digest-public-key.pem"
	case "digests":
		return "--digests kmsd-audit.jsonl.digests"
	case "anchor-seq":
		return "--anchor-seq 1042"
	case "anchor-hash":
		return "--anchor-hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	case "anchor-file":
		return "--anchor-file /mnt/offsite/kmsd-anchor.json"
	case "url":
		return "--url https://127.0.0.1:8443/healthz"
	case "timeout":
		return "--timeout 2s"
	}
	return ""
}

// setHelp makes fs print its command's help on -h or --help.
func setHelp(fs *flag.FlagSet) {
	fs.Usage = func() { printHelp(fs.Output(), fs) }
}

// printHelp writes a subcommand's help: what it does, how to call it,
// each flag with its default, its KMSD_* variable and an example.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	c := commandHelp(fs.Name())
	if c.synopsis != "" {
		fmt.Fprintf(w, "%s — %s\n\n", fs.Name(), c.synopsis)
	}
	fmt.Fprintln(w, "Usage:")
	for _, u := range c.usage {
		fmt.Fprintf(w, "  %s\n", u)
	}
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", c.about)
	}
	env := configEnvNames()
	fmt.Fprintln(w, "\nFlags:")
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		switch {
		case isBoolFlag(f):
			fmt.Fprintf(w, "  --%s\n", f.Name)
		case arg == "string" || arg == "value":
			parts := strings.Split(f.Name, "-")
			fmt.Fprintf(w, "  --%s %s\n", f.Name, strings.ToUpper(parts[len(parts)-1]))
		default:
			fmt.Fprintf(w, "  --%s %s\n", f.Name, strings.ToUpper(arg))
		}
		fmt.Fprintf(w, "        %s\n", usage)
		var notes []string
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
			notes = append(notes, "default "+d)
		}
		if e := "KMSD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")); env[e] && !c.noEnv {
			notes = append(notes, "env "+e)
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "        (%s)\n", strings.Join(notes, "; "))
		}
		if !strings.Contains(usage, "e.g.") {
			if ex := flagExample(f.Name); ex != "" {
				fmt.Fprintf(w, "        e.g. %s\n", ex)
			}
		}
	})
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// configEnvNames is the set of KMSD_* variables Config reads.
func configEnvNames() map[string]bool {
	m := map[string]bool{"KMSD_CONFIG": true}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if e := t.Field(i).Tag.Get("env"); e != "" {
			m[e] = true
		}
	}
	return m
}

// wantsHelp reports whether the arguments ask for help (-h, -help, --help)
// before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
