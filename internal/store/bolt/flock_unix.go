//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package bolt

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// flockRetry is how often a held lock is tried again, as bbolt does.
const flockRetry = 50 * time.Millisecond

// lockFile takes bbolt's advisory lock on f (exclusive for a writer, shared
// for a reader), waiting up to timeout. bbolt takes the same lock on the
// same descriptor afterwards, which then succeeds at once; holding it first
// lets Open look at the file before bbolt maps it, with no writer able to
// change it meanwhile.
func lockFile(f *os.File, exclusive bool, timeout time.Duration) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(flockRetry)
	}
}
