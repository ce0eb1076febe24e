package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// openStore opens the store at dbPath and the root keyring at keyPath, and
// returns the store with every record authenticated under that keyring. A
// missing keyring is created only for a store without records; a missing
// or foreign keyring is refused, naming the fingerprint the store expects.
// The store is opened first: its file lock keeps a second kmsd out while
// the keyring is checked or created.
func openStore(dbPath, keyPath string, log *slog.Logger) (*sealed.Store, *seal.FileSeal, error) {
	return openStoreSealed(dbPath, keyPath, SealConfig{}, log)
}

// openStoreSealed is openStore with the root keyring wrapped as sc says.
func openStoreSealed(dbPath, keyPath string, sc SealConfig, log *slog.Logger) (*sealed.Store, *seal.FileSeal, error) {
	ctx := context.Background()
	st, err := openBoltStore(ctx, dbPath, log)
	if err != nil {
		if errors.Is(err, bolt.ErrLocked) {
			return nil, nil, fmt.Errorf("%w (stop the running kmsd, or use another --data)", err)
		}
		return nil, nil, err
	}
	prot, _, err := sc.protector(ctx) // a token stays open while the process runs
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	sl, err := seal.OpenWith(keyPath, prot)
	if errors.Is(err, fs.ErrNotExist) {
		if err = sealed.CanCreateKeyring(ctx, st, keyPath); err != nil {
			err = fmt.Errorf("open store %s: %w", dbPath, err)
		} else {
			sl, err = seal.CreateWith(keyPath, prot)
		}
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	ss, err := sealed.Open(ctx, st, sealed.Config{Keyring: sl, KeyringPath: keyPath, Probe: probeSealed(sl), Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("open store %s: %w", dbPath, err)
	}
	if err := prepareStore(ctx, ss, dbPath, log); err != nil {
		ss.Close()
		return nil, nil, err
	}
	return ss, sl, nil
}

// probeSealed proves, for a store written before stores recorded their
// root keyring's check values, that sl is the keyring that sealed it: it
// unseals the first sealed key material, or else the first sealed access
// key secret, with the AAD layouts of DESIGN.md §5 (kms and identity seal
// them so). It reads only the fields it needs, and wipes what it unseals.
func probeSealed(sl *seal.FileSeal) func(tx store.Tx) (found, unsealed bool, err error) {
	return func(tx store.Tx) (bool, bool, error) {
		found, unsealed, err := probeBucket(tx, "keys", func(v []byte) (blob, aad []byte) {
			ms, err := kms.StoredKeyMaterials(v)
			if err != nil || len(ms) == 0 {
				return nil, nil
			}
			return ms[0].Blob, ms[0].AAD
		}, sl)
		if found || err != nil {
			return found, unsealed, err
		}
		return probeBucket(tx, "access-keys", func(v []byte) (blob, aad []byte) {
			var k struct {
				AccessKeyID string `json:"accessKeyId"`
				Sealed      []byte `json:"sealedSecret"`
			}
			if json.Unmarshal(v, &k) != nil {
				return nil, nil
			}
			return k.Sealed, []byte("kmsd/access-key/v1|" + k.AccessKeyID)
		}, sl)
	}
}

// probeBucket tries to unseal the first sealed value that parse finds in
// bucket; records it cannot read are passed over.
func probeBucket(tx store.Tx, bucket string, parse func([]byte) (blob, aad []byte), sl *seal.FileSeal) (found, unsealed bool, err error) {
	const page = 64
	var after []byte
	for {
		kvs, err := tx.Scan([]byte(bucket), nil, after, page)
		if err != nil {
			return false, false, err
		}
		for _, kv := range kvs {
			blob, aad := parse(kv.Value)
			if len(blob) == 0 {
				continue
			}
			pt, err := sl.Unseal(blob, aad)
			if err != nil {
				return true, false, nil
			}
			pt.Wipe()
			return true, true, nil
		}
		if len(kvs) < page {
			return false, false, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// openConfiguredKeyring opens the keyring at keyPath as admin check,
// backup and restore need it without a server: with the seal settings of
// sc (the config file, KMSD_SEAL_* variables and --seal-* flags), never
// with those its file records. Whoever can write the file (kmsd's user)
// could otherwise choose the library the command loads, and that receives
// the PIN, or the endpoint that receives its signed requests and answers
// with a keyring of their choice. What the file records only words the
// refusal when it differs from sc.
func openConfiguredKeyring(ctx context.Context, keyPath string, sc SealConfig) (*seal.FileSeal, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return seal.Open(keyPath) // its error says what is wrong with the file
	}
	kind, recorded := seal.Recorded(data)
	_, wrappedBy := seal.KindOf(data)
	clear(data)
	if kind == "file" {
		return seal.Open(keyPath)
	}
	if sc.Type != "" && sc.kind() != kind {
		return nil, &seal.SealError{Path: keyPath, FileSeal: kind, WrappedBy: wrappedBy, Want: sc.kind()}
	}
	sc.Type = kind
	want, err := configuredParams(keyPath, sc, recorded)
	if err != nil {
		return nil, err
	}
	if err := sameParams(keyPath, kind, recorded, want); err != nil {
		return nil, err
	}
	prot, closeProt, err := sealAs(ctx, sc, kind)
	if err != nil {
		return nil, fmt.Errorf("root keyring %s is wrapped by seal %s: %w", keyPath, kind, err)
	}
	if d, ok := prot.(seal.Describer); ok { // the awskms Region as resolved
		if err := sameParams(keyPath, kind, recorded, d.Params()); err != nil {
			closeProt()
			return nil, err
		}
	}
	return seal.OpenWith(keyPath, prot)
}

// configuredParams returns the settings of sc that a keyring of its seal
// records, or, when sc lacks the ones that name the wrapping key, an error
// saying what to give.
func configuredParams(keyPath string, sc SealConfig, recorded map[string]string) (map[string]string, error) {
	switch sc.Type {
	case "pkcs11":
		if sc.PKCS11.Module == "" || sc.PKCS11.Token == "" {
			return nil, fmt.Errorf("root keyring %s is wrapped by a key in a PKCS#11 token (the file says module %q, token %q): give the server's seal settings with --config, or --seal-pkcs11-module and --seal-pkcs11-token (KMSD_SEAL_PKCS11_MODULE, KMSD_SEAL_PKCS11_TOKEN), and the PIN; kmsd does not load the module a keyring file names",
				keyPath, recorded["module"], recorded["token"])
		}
		label := sc.PKCS11.KeyLabel
		if label == "" {
			label = defaultKeyLabel
		}
		return map[string]string{"module": sc.PKCS11.Module, "token": sc.PKCS11.Token, "keyLabel": label}, nil
	case "awskms":
		if sc.AWSKMS.KeyID == "" {
			return nil, fmt.Errorf("root keyring %s is wrapped by a KMS key (the file says %q at %q): give the server's seal settings with --config, or --seal-awskms-key-id, --seal-awskms-endpoint and --seal-awskms-region (KMSD_SEAL_AWSKMS_*); kmsd does not call the endpoint a keyring file names",
				keyPath, recorded["keyId"], recorded["endpoint"])
		}
		return map[string]string{"keyId": sc.AWSKMS.KeyID, "endpoint": sc.AWSKMS.Endpoint}, nil
	}
	return nil, fmt.Errorf("root keyring %s is wrapped by seal %q, which this kmsd does not know", keyPath, sc.Type)
}

// sameParams refuses a keyring whose recorded settings differ from the
// configured ones in want, naming the first that differs. A setting the
// file does not record (a keyring written before kmsd recorded them) is
// not compared: the configured one is used regardless.
func sameParams(keyPath, kind string, recorded, want map[string]string) error {
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if v, ok := recorded[k]; ok && v != want[k] {
			return fmt.Errorf("root keyring %s records seal %s %s %q, but the configuration says %q: kmsd opens a keyring only with the configured seal. If the configuration is right, someone changed the file; check it before any server uses it", keyPath, kind, k, recorded[k], want[k])
		}
	}
	return nil
}
