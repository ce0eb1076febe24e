//go:build !linux

package boltmap

import "go.etcd.io/bbolt"

// populate does nothing where MADV_POPULATE_READ does not exist.
func populate(_ *bbolt.DB, from int64) (int64, bool) { return from, false }
