package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

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
			var r struct {
				KeyID     string `json:"keyId"`
				AccountID string `json:"accountId"`
				Region    string `json:"region"`
				Materials []struct {
					ID     string `json:"id"`
					Sealed []byte `json:"sealed"`
				} `json:"materials"`
			}
			if json.Unmarshal(v, &r) != nil || len(r.Materials) == 0 {
				return nil, nil
			}
			m := r.Materials[0]
			return m.Sealed, []byte("kmsd/material/v1|" + r.AccountID + "/" + r.Region + "/|" + r.KeyID + "|" + m.ID)
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

// openRecordedKeyring opens the keyring at keyPath with the seal its file
// records (the token and key label, or the KMS key, endpoint and Region),
// as admin check, backup and restore need it without a server's settings.
// KMSD_SEAL_* variables override what is recorded; the PIN and the AWS
// credentials come from the environment as for a server.
func openRecordedKeyring(keyPath string) (*seal.FileSeal, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return seal.Open(keyPath) // its error says what is wrong with the file
	}
	kind, params := seal.Recorded(data)
	clear(data)
	if kind == "file" {
		return seal.Open(keyPath)
	}
	sc := SealConfig{
		PKCS11: PKCS11SealConfig{Module: params["module"], Token: params["token"], KeyLabel: params["keyLabel"]},
		AWSKMS: AWSKMSSealConfig{KeyID: params["keyId"], Endpoint: params["endpoint"], Region: params["region"]},
	}
	_ = sc.loadEnv(os.Getenv)
	sc.Type = kind
	prot, _, err := sealAs(context.Background(), sc, kind)
	if err != nil {
		return nil, fmt.Errorf("root keyring %s is wrapped by seal %s: %w", keyPath, kind, err)
	}
	return seal.OpenWith(keyPath, prot)
}
