package boltmap

import "syscall"

// Flags are the mmap flags to open a bbolt file with (bbolt.Options's
// MmapFlags): MAP_POPULATE maps the whole file when bbolt maps it, at
// open and again whenever it remaps a grown file, as etcd does. A request
// reading a cold key then finds its page mapped instead of waiting for
// the disk while it holds bbolt's map lock, which a growing writer waits
// for and every later reader queues behind. Mapped pages count in the
// process's RSS (they are the page cache's).
const Flags = syscall.MAP_POPULATE
