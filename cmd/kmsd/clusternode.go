package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// The settings and files of a cluster node: the --store URL, the node id
// kept in the data directory, and the audit log named by it.

// nodeIDFile holds a cluster node's id in its data directory.
const nodeIDFile = "node-id"

// isPostgresDSN reports whether a --store value names PostgreSQL.
func isPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// validateStore checks the --store setting for mode m.
func (c *Config) validateStore(m mode) error {
	switch {
	case c.Store == "":
		return nil
	case !isPostgresDSN(c.Store):
		return errors.New("--store (KMSD_STORE, store) takes a postgres://user:password@host/db URL; leave it empty for the bbolt file in --data")
	case m == modeDev:
		return errors.New("kmsd dev keeps its data in --data; a PostgreSQL store (--store) is for kmsd serve")
	case c.ephemeral():
		return errors.New("--store and an in-memory data directory exclude each other: a cluster node needs a data directory for its root key, node id and audit log")
	case c.NodeID != "" && !validNodeID(c.NodeID):
		return fmt.Errorf("node id %q: use 1 to 64 letters, digits, dots, dashes and underscores", c.NodeID)
	case c.OutboxGrace < time.Second:
		return fmt.Errorf("outbox grace %v is under a second: it must outlast any request", c.OutboxGrace)
	}
	return nil
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return false
		}
	}
	return true
}

// redactDSN hides the password of a store URL, for --print-config.
func redactDSN(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "[redacted]")
	}
	return u.String()
}

// resolveNodeID returns the node id of the data directory dir: the one it
// recorded, which a configured id must match, or the configured id, or a
// new random one; a new id is recorded.
func resolveNodeID(dir, configured string) (string, error) {
	path := filepath.Join(dir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !validNodeID(id) {
			return "", fmt.Errorf("%s does not hold a node id; remove it to get a new one", path)
		}
		if configured != "" && configured != id {
			return "", fmt.Errorf("data directory %s belongs to node %s, not %s: give each node its own data directory", dir, id, configured)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	id := configured
	if id == "" {
		id = "node-" + strings.ToLower(rand.Text()[:10])
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("record the node id: %w", err)
	}
	return id, nil
}

// recordedNodeID returns the node id a data directory recorded, "" when it
// is not a cluster node's.
func recordedNodeID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, nodeIDFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// nodeAuditPath is the audit log of the data directory dir: a cluster
// node's log file carries its node id, so the logs of all nodes can be
// gathered in one place.
func nodeAuditPath(dir string) string {
	_, _, log := dataPaths(dir)
	if id := recordedNodeID(dir); id != "" {
		return filepath.Join(dir, "audit", "kmsd-audit-"+id+".jsonl")
	}
	return log
}

// clusterBanner is the startup banner's line about a cluster node's data.
func clusterBanner(cfg Config) string {
	_, key, _ := dataPaths(cfg.DataDir)
	dir := filepath.Clean(cfg.DataDir) + "/"
	return fmt.Sprintf("  data:  store %s, shared by every node of the cluster; node %s, root key %s, audit log %s\n",
		redactDSN(cfg.Store), recordedNodeID(cfg.DataDir), key, strings.TrimPrefix(nodeAuditPath(cfg.DataDir), dir))
}

// openTrustStore opens the store of data directory dir for kmsd audit
// verify: its bbolt file, or for a cluster node the cluster's store at
// dsn. It also returns the node id whose anchor to check ("" outside a
// cluster). It never makes a root keyring.
func openTrustStore(dir, dsn string) (*sealed.Store, *seal.FileSeal, string, error) {
	db, keyPath, _ := dataPaths(dir)
	node := recordedNodeID(dir)
	switch {
	case dsn == "" && node != "":
		return nil, nil, "", fmt.Errorf("%s is the data directory of cluster node %s, whose store is the cluster's PostgreSQL database: give it with --store postgres://…", dir, node)
	case dsn == "":
		st, sl, err := openStore(db, keyPath, nil)
		return st, sl, "", err
	case node == "":
		return nil, nil, "", fmt.Errorf("%s is not the data directory of a cluster node (it has no %s file)", dir, nodeIDFile)
	case !isPostgresDSN(dsn):
		return nil, nil, "", errors.New("--store takes a postgres://user:password@host/db URL")
	}
	if _, err := os.Stat(keyPath); err != nil {
		return nil, nil, "", fmt.Errorf("root keyring: %w", err)
	}
	st, sl, _, err := openShared(Config{DataDir: dir, Store: dsn}, keyPath, nil)
	return st, sl, node, err
}
