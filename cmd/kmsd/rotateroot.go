package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

const rotateRootHelp = `kmsd admin rotate-root — make a new root key active and re-seal every record under it

Usage:
  kmsd admin rotate-root [--config FILE] [--data DIR] [--seal ...] [--batch N] [--retire]
  kmsd admin rotate-root --retire-only [--data DIR]

A new AES-256 root key joins the root keyring and becomes active; then every
record of the store is re-sealed under it, a batch per transaction: key
material, grant token keys, access key secrets, session credentials and the
audit digest signing key are sealed anew, and every record's authentication
tag is made anew. The older root keys stay in the keyring, so the store stays
usable at every moment: if the command is stopped (even by SIGKILL), run it
again and it resumes the same rotation. With the server running, it works
through the server's admin socket in DIR; otherwise on the files.

--retire, once every record is re-sealed, removes the older root keys from the
keyring and from the store's record of it; --retire-only does that later,
without a new root key. Retire only when nothing sealed
under them is needed any more: backups taken before the rotation need them
(keep a copy of the old keyring with those backups), and import tokens issued
before it (valid 24 hours) stop working.

Examples:
  kmsd admin rotate-root --data /var/lib/kmsd
  kmsd admin rotate-root --data /var/lib/kmsd --retire-only
  KMSD_SEAL_PKCS11_PIN=... kmsd admin rotate-root --config /etc/kmsd/kmsd.yaml

Flags:
`

// rotateOptions are what rotate-root is asked to do.
type rotateOptions struct {
	Batch  int  `json:"batch"`
	Retire bool `json:"retire"`
	// RetireOnly retires without a new rotation: it finishes one in
	// progress, checks every record, then retires the older keys.
	RetireOnly bool `json:"retireOnly"`
	// flush drops a running server's cached snapshots of records, whose
	// sealed values (grant token keys) predate the re-seal.
	flush func()
	// drain, on a running server, waits out the requests that began
	// before the new root key became active (requestGate).
	drain func(context.Context) error
	// crashAfter, for tests only, kills the process with SIGKILL once
	// this many records are re-sealed (testCrashAfter).
	crashAfter int
}

// The rotation in progress: the root key every record is moving to. It
// lets a second run resume instead of adding yet another root key.
var (
	bucketRootRotation = []byte("root-rotation")
	rotationStateKey   = []byte("state")
)

type rotationState struct {
	Target uint32 `json:"target"`
}

func runRotateRoot(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kmsd admin rotate-root", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), rotateRootHelp); fs.PrintDefaults() }
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	cfg.Seal.bindFlags(fs)
	opt := rotateOptions{}
	fs.IntVar(&opt.Batch, "batch", 256, "records re-sealed per transaction")
	fs.BoolVar(&opt.Retire, "retire", false, "after re-sealing, remove the older root keys from the keyring")
	fs.BoolVar(&opt.RetireOnly, "retire-only", false, "make no new root key: finish the rotation in progress, if any, then retire the older root keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if opt.Batch <= 0 {
		return errors.New("--batch must be positive")
	}
	opt.crashAfter = testCrashAfter(getenv)
	if err := cfg.validate(); err != nil {
		return err
	}
	switch {
	case cfg.ephemeral():
		return errors.New("an ephemeral server's root keyring lives and dies with it: there is nothing to rotate")
	case cfg.Store != "":
		return errors.New("rotate-root works on a bbolt data directory; a cluster's nodes each keep a root keyring, which this kmsd does not rotate yet")
	}
	if dbPath, _, _ := dataPaths(cfg.DataDir); !fileExists(dbPath) {
		return fmt.Errorf("%s holds no store (%s): there is no root keyring to rotate", cfg.DataDir, dbPath)
	}
	n, err := openNode(cfg, nil, nil)
	if errors.Is(err, bolt.ErrLocked) {
		return rotateRootOnline(ctx, cfg.DataDir, opt, stdout)
	}
	if err != nil {
		return err
	}
	defer n.close()
	return rotateRoot(ctx, n.store, n.seal, opt, stdout)
}

// rotateRoot rotates the root keyring of st, or resumes the rotation in
// progress, re-seals every record and, if asked, retires the older keys.
func rotateRoot(ctx context.Context, st *sealed.Store, sl *seal.FileSeal, opt rotateOptions, out io.Writer) error {
	if sl.Path() == "" {
		return errors.New("an in-memory root keyring cannot be rotated")
	}
	target, resumed, err := startRotation(ctx, st, sl, !opt.RetireOnly)
	if err != nil {
		return err
	}
	if opt.RetireOnly {
		opt.Retire = true
		fmt.Fprintf(out, "Checking that every record of %s is sealed under root key %d.\n", sl.Describe(), target)
	} else if resumed {
		fmt.Fprintf(out, "Resuming the rotation of root keyring %s to root key %d.\n", sl.Describe(), target)
	} else {
		fmt.Fprintf(out, "Root key %d of %s is now active.\n", target, sl.Describe())
	}
	// A request in flight may have sealed a value under an older key and
	// commit it only now (a custom key store's secret, after a call to its
	// XKS proxy): let those requests end first, so that the re-seal below
	// sees what they commit and the census never retires a key they used.
	// Requests that begin from now on seal under the target key.
	if opt.drain != nil {
		if err := opt.drain(ctx); err != nil {
			return fmt.Errorf("wait for the requests in flight before the rotation: %w (the store is usable; run kmsd admin rotate-root again to resume)", err)
		}
	}
	stats, err := st.Reseal(ctx, opt.Batch, resealer(sl), func(s sealed.ResealStats) error {
		if opt.crashAfter > 0 && s.Rewritten >= opt.crashAfter {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // tests: a crash mid-way
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("re-seal under root key %d: %w (the store is usable; run kmsd admin rotate-root again to resume)", target, err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Delete(bucketRootRotation, rotationStateKey) }); err != nil {
		return err
	}
	if opt.flush != nil {
		opt.flush()
	}
	fmt.Fprintf(out, "Re-sealed %d of %d records under root key %d; every record is now sealed under it.\n", stats.Rewritten, stats.Records, target)
	older := olderKeys(sl)
	if !opt.Retire {
		if len(older) > 0 {
			fmt.Fprintf(out, "Older root keys %v stay in the keyring for backups taken before now and import tokens issued before now (valid 24 hours). Once neither is needed, run: kmsd admin rotate-root --retire-only\n", older)
		}
		return nil
	}
	return retireOlder(ctx, st, sl, older, out)
}

// startRotation resumes the rotation recorded in the store if the keyring's
// active key is its target, and otherwise adds a root key and records it.
func startRotation(ctx context.Context, st *sealed.Store, sl *seal.FileSeal, rotate bool) (target uint32, resumed bool, err error) {
	var state rotationState
	err = st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketRootRotation, rotationStateKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &state)
	})
	if err != nil {
		return 0, false, err
	}
	if state.Target != 0 && state.Target == sl.ActiveID() {
		return state.Target, true, nil
	}
	if !rotate {
		return sl.ActiveID(), false, nil
	}
	if target, err = sl.Rotate(); err != nil {
		return 0, false, err
	}
	// The store records the new key's fingerprint at once, so that an
	// older copy of the keyring is refused from now on.
	if err := st.RecordKeyring(ctx); err != nil {
		return 0, false, err
	}
	b, _ := json.Marshal(rotationState{Target: target})
	return target, false, st.Update(ctx, func(tx store.Tx) error { return tx.Put(bucketRootRotation, rotationStateKey, b) })
}

func olderKeys(sl *seal.FileSeal) []uint32 {
	var ids []uint32
	for _, id := range sl.KeyIDs() {
		if id != sl.ActiveID() {
			ids = append(ids, id)
		}
	}
	return ids
}

// retireOlder removes each older root key, first from the store's record
// (after checking in the same transaction that no record needs it), then
// from the keyring. A crash between the two leaves the key in the keyring,
// which the next start records again; nothing is lost.
func retireOlder(ctx context.Context, st *sealed.Store, sl *seal.FileSeal, ids []uint32, out io.Writer) error {
	for _, id := range ids {
		if err := st.ForgetRootKey(ctx, id, sealedUnderCensus(id)); err != nil {
			return fmt.Errorf("retire root key %d: %w", id, err)
		}
		if err := sl.Retire(id); err != nil {
			return fmt.Errorf("retire root key %d: %w", id, err)
		}
		fmt.Fprintf(out, "Retired root key %d: nothing in the store was sealed under it.\n", id)
	}
	if len(ids) == 0 {
		fmt.Fprintln(out, "No older root key to retire.")
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
