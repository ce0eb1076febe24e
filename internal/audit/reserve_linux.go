package audit

import (
	"errors"
	"syscall"
)

// fallocKeepSize is FALLOC_FL_KEEP_SIZE: allocate without growing the file.
const fallocKeepSize = 0x01

// allocate reserves n bytes of disk at off in the file behind sc.
func allocate(sc syscall.Conn, off, n int64) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Fallocate(int(fd), fallocKeepSize, off, n)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	switch ferr {
	case syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.ENODEV, syscall.EINVAL, syscall.ESPIPE:
		// Not a file system that reserves (tmpfs before 3.5, NFSv3, a
		// device such as /dev/full): never try again on this file.
		return errors.ErrUnsupported
	}
	return ferr
}
