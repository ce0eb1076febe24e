package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

const migrateSealHelp = `kmsd admin migrate-seal — move the root keyring to another seal (server stopped)

Usage:
  kmsd admin migrate-seal --to pkcs11|awskms|file [--data DIR] [--seal-... settings]

Wraps the root keyring file of DIR with the seal --to names, configured by the
same --seal-* flags, KMSD_SEAL_* variables or seal: settings a server takes;
the keyring's current seal is read from the file and configured the same way.
The root keys do not change, so the store needs no other change. The new file
is written beside the old one, synced and read back through the new seal
before it replaces the old one; a plaintext file's content is then
overwritten. Copies of the plaintext keyring elsewhere (older backups of the
data directory) still hold the root keys: to make them worthless, run
kmsd admin rotate-root --retire.

Examples:
  kmsd admin migrate-seal --data /var/lib/kmsd --to awskms --seal-awskms-key-id alias/kmsd-root --seal-awskms-region eu-west-1
  KMSD_SEAL_PKCS11_PIN=... kmsd admin migrate-seal --data /var/lib/kmsd --to pkcs11 --seal-pkcs11-module /usr/lib/softhsm/libsofthsm2.so --seal-pkcs11-token kmsd

Flags:
`

func runMigrateSeal(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd admin migrate-seal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), migrateSealHelp); fs.PrintDefaults() }
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cfg.Seal.bindFlags(fs)
	to := fs.String("to", "", "the new seal: pkcs11, awskms or file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.ephemeral() || cfg.Store != "" {
		return errors.New("migrate-seal works on the root keyring of a bbolt data directory")
	}
	dbPath, keyPath, _ := dataPaths(cfg.DataDir)
	for _, p := range []string{keyPath, dbPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s holds no data directory of kmsd: %w", cfg.DataDir, err)
		}
	}
	// Hold the store's lock, so that no server rotates the keyring meanwhile.
	st, err := bolt.Open(dbPath)
	if errors.Is(err, bolt.ErrLocked) {
		return fmt.Errorf("%w: stop the running kmsd first; the keyring is moved only while no server uses it", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("read the root keyring: %w", err)
	}
	from, _ := seal.KindOf(data)
	clear(data)
	switch {
	case *to != "file" && *to != "pkcs11" && *to != "awskms":
		return fmt.Errorf("--to %q is not pkcs11, awskms or file", *to)
	case from == *to:
		return fmt.Errorf("the root keyring %s is already sealed by %s; to change its %s key, move it to file and back, or rotate in the key's own service", keyPath, from, from)
	}
	src, closeSrc, err := sealAs(ctx, cfg.Seal, from)
	if err != nil {
		return fmt.Errorf("the keyring's current seal (%s): %w", from, err)
	}
	defer closeSrc()
	dst, closeDst, err := sealAs(ctx, cfg.Seal, *to)
	if err != nil {
		return fmt.Errorf("the new seal (%s): %w", *to, err)
	}
	defer closeDst()
	if err := seal.Rewrap(keyPath, src, dst); err != nil {
		return err
	}
	ring, err := seal.OpenWith(keyPath, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The root keyring is now %s; its root keys %v did not change.\n", ring.Describe(), ring.KeyIDs())
	if *to == "file" {
		fmt.Fprintln(stdout, "It is a plaintext file again: start kmsd without --seal (or with --seal file).")
		return nil
	}
	fmt.Fprintf(stdout, "Start kmsd with --seal %s and the same --seal-%s-* settings (or seal: in the config file).\n", *to, *to)
	if from == "file" {
		fmt.Fprintln(stdout, "Older copies of the plaintext keyring (backups of the data directory) still hold these root keys: run kmsd admin rotate-root --retire to make them worthless.")
	}
	return nil
}

// sealAs returns the protector of seal kind with sc's settings.
func sealAs(ctx context.Context, sc SealConfig, kind string) (seal.Protector, func(), error) {
	sc.Type = kind
	c := Config{Seal: sc, DataDir: "."}
	if err := c.validateSeal(); err != nil {
		return nil, func() {}, err
	}
	return sc.protector(ctx)
}
