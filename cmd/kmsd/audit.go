package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kmsd/kmsd/internal/audit"
)

const auditUsage = `usage: kmsd audit verify --data DIR [--store postgres://…]
       kmsd audit verify [--file LOG] [--public-key PEM] [--digests FILE]
                         [--anchor-seq N --anchor-hash HEX | --anchor-file FILE]

With --data (the server stopped), the digest public key and the anchor
come from the data directory's store, authenticated under its root key.
A cluster node's store is the cluster's PostgreSQL database: give it with
--store; the node need not be stopped, and its own log and anchor are used.
`

// runAudit verifies an audit log: its hash chain and head file, and with
// --public-key its signed digests, and with an anchor that nothing was cut
// from its end. It fails (non-zero exit) naming the file and line of the
// first problem.
func runAudit(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("kmsd audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	setHelp(fs)
	data := fs.String("data", "", "data directory of a stopped kmsd: verify its log with the public key and anchor kept in its store")
	shared := fs.String("store", "", "with --data of a cluster node: the cluster's postgres:// store")
	file := fs.String("file", "./kmsd-data/audit/kmsd-audit.jsonl", "audit log to verify")
	pubFile := fs.String("public-key", "", "PEM file of the digest public key(s), from a copy you trust; checks the signed digests")
	digests := fs.String("digests", "", "signed digests file (default: FILE"+".digests; give the current log's for a rotated file)")
	anchorSeq := fs.Uint64("anchor-seq", 0, "seq of a record known from outside the log directory (with --anchor-hash)")
	anchorHash := fs.String("anchor-hash", "", "chain hash of the record at --anchor-seq (64 hex digits)")
	anchorFile := fs.String("anchor-file", "", "anchor file written by an audit.FileAnchor")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	opts := audit.VerifyOptions{DigestsPath: *digests}
	if *pubFile != "" {
		b, err := os.ReadFile(*pubFile)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		if opts.PublicKeys, err = audit.ParsePublicKeysPEM(b); err != nil {
			return fmt.Errorf("--public-key %s: %w", *pubFile, err)
		}
	}
	anchor, err := verifyAnchor(*anchorSeq, *anchorHash, *anchorFile)
	if err != nil {
		return err
	}
	opts.Anchor = anchor
	if *data != "" {
		if !flagSet(fs, "file") {
			*file = nodeAuditPath(*data)
		}
		if err := trustFromStore(*data, *shared, &opts); err != nil {
			return err
		}
	}

	rep, err := audit.Verify(*file, opts)
	if err != nil {
		return fmt.Errorf("audit log %s failed verification: %w", *file, err)
	}
	printReport(stdout, stderr, *file, rep, opts)
	return nil
}

// verifyAnchor reads the anchor from flags or a file; nil when none given.
func verifyAnchor(seq uint64, hash, file string) (*audit.AnchorState, error) {
	switch {
	case file != "" && (seq != 0 || hash != ""):
		return nil, fmt.Errorf("give --anchor-file or --anchor-seq with --anchor-hash, not both")
	case file != "":
		st, err := audit.FileAnchor{Path: file}.Load(context.Background())
		if err != nil {
			return nil, fmt.Errorf("--anchor-file: %w", err)
		}
		if st.IsZero() {
			return nil, fmt.Errorf("--anchor-file %s does not exist", file)
		}
		return &st, nil
	case seq != 0 || hash != "":
		if seq == 0 || len(hash) != 64 || strings.Trim(strings.ToLower(hash), "0123456789abcdef") != "" {
			return nil, fmt.Errorf("--anchor-seq needs a seq of 1 or more and --anchor-hash its 64-hex-digit chain hash")
		}
		return &audit.AnchorState{LastSeq: seq, ChainHash: strings.ToLower(hash)}, nil
	}
	return nil, nil
}

func printReport(stdout, stderr io.Writer, file string, rep audit.Report, opts audit.VerifyOptions) {
	if rep.Records == 0 {
		fmt.Fprintf(stdout, "audit log %s: no records\n", file)
	} else {
		fmt.Fprintf(stdout, "audit log %s: %d records (seq %d to %d), hash chain intact\n", file, rep.Records, rep.FirstSeq, rep.LastSeq)
	}
	if rep.Signed {
		fmt.Fprintf(stdout, "signed digests: %d verified with %s\n", rep.Digests, fingerprints(opts.PublicKeys))
		if rep.Records > 0 && rep.SignedThrough >= rep.FirstSeq {
			fmt.Fprintf(stdout, "records through seq %d (line %d) are covered by a signature\n", rep.SignedThrough, rep.SignedThrough-rep.FirstSeq+1)
		}
		if rep.NextFileSeq != 0 {
			fmt.Fprintf(stdout, "the log continues in a newer file from seq %d; verify that file too\n", rep.NextFileSeq)
		} else if rep.Records > 0 && rep.SignedThrough < rep.LastSeq {
			from := max(rep.SignedThrough+1, rep.FirstSeq)
			fmt.Fprintf(stderr, "WARNING: records seq %d to %d (lines %d to %d) are newer than the last signed digest: not covered by a signature yet\n",
				from, rep.LastSeq, from-rep.FirstSeq+1, rep.Records)
		}
	} else {
		fmt.Fprintf(stderr, "WARNING: no --public-key: only the unsigned hash chain was checked, which anyone able to write the log directory can recompute; "+
			"pass a trusted copy of the digest public key (%s%s beside the log)\n", file, audit.PublicKeySuffix)
		if !rep.Head && opts.Anchor == nil {
			fmt.Fprintf(stderr, "WARNING: no head file (%s.head): records removed from either end of the file cannot be detected\n", file)
		}
	}
	if opts.Anchor != nil {
		if rep.Anchored {
			fmt.Fprintf(stdout, "anchor: record seq %d matches\n", opts.Anchor.LastSeq)
		} else {
			fmt.Fprintf(stdout, "anchor: seq %d lies outside this file, which the digests account for\n", opts.Anchor.LastSeq)
		}
	}
}

func fingerprints(keys []crypto.PublicKey) string {
	var fps []string
	for _, k := range keys {
		fp, _ := audit.Fingerprint(k)
		fps = append(fps, "key "+fp)
	}
	return strings.Join(fps, ", ")
}

// flagSet reports whether the named flag was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// trustFromStore takes the digest public key and the anchor from a data
// directory's store, where they are authenticated under its root keyring:
// unlike the PEM beside the log, a writer of the log directory cannot
// replace them. Keys and anchors given as flags are kept.
func trustFromStore(dir, sharedStore string, opts *audit.VerifyOptions) error {
	ctx := context.Background()
	db, _, _ := dataPaths(dir)
	if sharedStore != "" {
		db = redactDSN(sharedStore)
	}
	st, sl, node, err := openTrustStore(dir, sharedStore)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := loadAuditSigner(ctx, st, sl, false)
	if err != nil {
		return err
	}
	if len(opts.PublicKeys) == 0 {
		opts.PublicKeys = []crypto.PublicKey{key.Public()}
	}
	if opts.Anchor == nil {
		a, err := storeAnchor{st: st, node: node}.Load(ctx)
		if err != nil {
			return fmt.Errorf("read the audit anchor from %s: %w", db, err)
		}
		if !a.IsZero() {
			opts.Anchor = &a
		}
	}
	return nil
}
