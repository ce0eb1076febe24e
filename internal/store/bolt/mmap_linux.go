package bolt

import "syscall"

// mmapFlags pre-faults the whole data file when bbolt maps it, at Open and
// again whenever it remaps a grown file, as etcd does: a request reading a
// cold key then finds its page mapped instead of waiting for the disk while
// it holds bbolt's map lock, which a growing writer waits for and every
// later reader queues behind. The pages commits add between remaps are
// mapped as they commit (mapped.go). Mapped pages count in the process's
// RSS (they are the page cache's).
const mmapFlags = syscall.MAP_POPULATE
