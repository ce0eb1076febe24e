//go:build !linux

package bolt

// mmapFlags adds nothing where MAP_POPULATE does not exist.
const mmapFlags = 0
