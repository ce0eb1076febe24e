package bolt

import "syscall"

// mmapFlags pre-faults the whole data file when bbolt maps it (and maps it
// again as it grows), as etcd does: a request reading a cold key then finds
// its pages mapped instead of taking a page fault while it holds bbolt's
// map lock, which a growing writer waits for and every later reader queues
// behind. The pages are the page cache's, counted in the process's RSS.
const mmapFlags = syscall.MAP_POPULATE
