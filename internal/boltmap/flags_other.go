//go:build !linux

package boltmap

// Flags adds nothing where MAP_POPULATE does not exist.
const Flags = 0
