//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package bolt

import (
	"os"
	"time"
)

// lockFile leaves locking to bbolt where flock(2) is not available; Open
// then looks at the file before it holds the lock.
func lockFile(*os.File, bool, time.Duration) error { return nil }
